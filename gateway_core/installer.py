"""Installing a plugin into a database: a record of the installation and, on request, its fixtures.

Fixtures are JSON files in the plugin's fixtures folder, read in file-name order; each holds
`{"schema": "<$id>", "objects": [{...}, ...]}`. An object may pin its UUID with `_id`; without
one, a UUID is derived from the plugin, schema and position, so re-running is idempotent: an
object that exists is replaced by its fixture. All fixtures load in one atomic batch: an invalid
fixture is reported (file, index, field) and nothing is loaded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from gateway_core.context import system_context
from gateway_core.errors import SchemaError
from gateway_core.plugins import Plugin
from gateway_core.schemas.formats import is_uuid
from gateway_core.schemas.registry import read_json
from gateway_core.service import ObjectService, utc_now
from gateway_core.storage import Put, StoredObject

INSTALLED = "gateway:installed-plugins"
_NAMESPACE = uuid.UUID("6f1c5b1e-3a52-4d5e-9a53-2b8f0c1d7e44")


@dataclass(frozen=True)
class Fixture:
    schema_id: str
    object_id: str
    data: dict[str, Any]
    label: str  # "<file>#<index>", used in error names


def read_fixtures(plugin: Plugin, known_schemas: set[str]) -> list[Fixture]:
    folder = plugin.fixtures
    if folder is None or not folder.is_dir():
        return []
    fixtures: list[Fixture] = []
    for path in sorted(folder.glob("*.json")):
        document = read_json(path)
        if not isinstance(document, dict) or not isinstance(document.get("objects"), list):
            raise SchemaError(
                str(path), "/", 'a fixture file holds {"schema": "<$id>", "objects": [...]}'
            )
        schema_id = document.get("schema")
        if schema_id not in known_schemas:
            raise SchemaError(str(path), "/schema", f"no loaded schema has $id {schema_id!r}")
        for index, item in enumerate(document["objects"]):
            if not isinstance(item, dict):
                raise SchemaError(
                    str(path), f"/objects/{index}", "a fixture object must be a JSON object"
                )
            data = {key: value for key, value in item.items() if key != "_id"}
            pinned = item.get("_id")
            if pinned is not None and not (isinstance(pinned, str) and is_uuid(pinned)):
                raise SchemaError(str(path), f"/objects/{index}/_id", "_id must be a UUID")
            object_id = (
                pinned.lower()
                if pinned
                else str(uuid.uuid5(_NAMESPACE, f"{plugin.name}|{schema_id}|{path.name}|{index}"))
            )
            fixtures.append(Fixture(str(schema_id), object_id, data, f"{path.name}#{index}"))
    return fixtures


async def install(service: ObjectService, plugin: Plugin, with_data: bool) -> dict[str, Any]:
    """Record the plugin as installed and, with `with_data`, load its fixtures. Returns a summary."""
    summary: dict[str, Any] = {"plugin": plugin.name, "created": 0, "replaced": 0}
    if with_data:
        fixtures = read_fixtures(plugin, set(service.schemas.types))
        created, replaced = await service.put_many(
            [(f.schema_id, f.object_id, f.data, f.label) for f in fixtures],
            system_context(f"install {plugin.name}"),
        )
        summary.update(created=created, replaced=replaced, fixtures=len(fixtures))
    record_id = str(uuid.uuid5(_NAMESPACE, f"plugin|{plugin.name}"))
    previous = await service.store.get(INSTALLED, record_id)
    now = utc_now()
    data = {
        "name": plugin.name,
        "title": plugin.title,
        "withData": with_data or bool(previous and previous.data.get("withData")),
    }
    record = StoredObject(record_id, previous.created if previous else now, now, data)
    await service.store.write([Put(INSTALLED, record)])
    return summary
