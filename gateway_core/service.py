"""CRUD on objects: input rules, defaults, validation, metadata and the stored records.

The service knows objecttypes and endpoints, never HTTP: it takes parsed bodies and query
parameters and returns records or raises ProblemErrors.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway_core.errors import BadRequest, InvalidParam, NotFound, ValidationFailed
from gateway_core.manifest import Endpoint
from gateway_core.query import ListQuery, parse_list_query
from gateway_core.schemas.formats import is_uuid
from gateway_core.schemas.paths import PathInfo, schema_paths
from gateway_core.schemas.registry import ObjectType, SchemaSet
from gateway_core.schemas.validation import ObjectValidator
from gateway_core.storage import Delete, Page, Put, Store, StoredObject

OUTPUT_ONLY = ("_self", "embedded")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, `null` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def render(record: StoredObject, endpoint: Endpoint, object_type: ObjectType, base_path: str) -> dict[str, Any]:
    """The object as clients see it: `id`, `_self` metadata, then the schema's properties."""
    return {
        "id": record.id,
        "_self": {
            "id": record.id,
            "self": f"{base_path}{endpoint.route}/{record.id}",
            "schema": {"id": object_type.id, "ref": object_type.id, "name": object_type.title},
            "dateCreated": record.created,
            "dateModified": record.modified,
        },
        **record.data,
    }


def list_envelope(results: list[dict[str, Any]], page: Page, query: ListQuery) -> dict[str, Any]:
    return {
        "results": results,
        "count": len(results),
        "limit": query.limit,
        "total": page.total,
        "offset": query.offset,
        "page": query.page,
        "pages": max(1, math.ceil(page.total / query.limit)),
    }


class ObjectService:
    def __init__(
        self,
        schemas: SchemaSet,
        store: Store,
        *,
        default_limit: int = 30,
        max_limit: int = 1000,
        clock: Callable[[], str] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.schemas = schemas
        self.store = store
        self._default_limit = default_limit
        self._max_limit = max_limit
        self._clock = clock
        self._new_id = new_id
        self._validators = {sid: ObjectValidator(schemas, t) for sid, t in schemas.types.items()}
        self._paths: dict[str, dict[str, PathInfo]] = {}

    def paths(self, schema_id: str) -> dict[str, PathInfo]:
        if schema_id not in self._paths:
            self._paths[schema_id] = schema_paths(self.schemas, self.schemas.get(schema_id))
        return self._paths[schema_id]

    # -- input ---------------------------------------------------------------------------------

    def _data_from_body(self, body: Any, object_id: str | None) -> tuple[dict[str, Any], list[InvalidParam]]:
        """The schema's properties from a request body; `id` and output-only metadata set apart."""
        if not isinstance(body, dict):
            raise BadRequest(f"The body must be a JSON object, got {type(body).__name__ if body is not None else 'null'}.")
        data = {key: value for key, value in body.items() if key not in OUTPUT_ONLY and key != "id"}
        problems: list[InvalidParam] = []
        if "id" in body and (object_id is None or body["id"] != object_id):
            reason = "is assigned by the server" if object_id is None else "must equal the id in the URL"
            problems.append(InvalidParam("id", "readOnly", reason))
        return data, problems

    def _checked(
        self, schema_id: str, data: dict[str, Any], object_id: str, previous: dict[str, Any] | None, problems: list[InvalidParam]
    ) -> dict[str, Any]:
        validator = self._validators[schema_id]
        data = validator.with_defaults(data)
        declares_id = "id" in (self.schemas.get(schema_id).schema.get("properties") or {})
        candidate = {"id": object_id, **data} if declares_id else data
        problems = problems + validator.check(candidate, previous)
        if problems:
            raise ValidationFailed(problems)
        return data

    # -- CRUD ----------------------------------------------------------------------------------

    async def create(self, schema_id: str, body: Any) -> StoredObject:
        object_id = self._new_id()
        data, problems = self._data_from_body(body, None)
        data = self._checked(schema_id, data, object_id, None, problems)
        now = self._clock()
        record = StoredObject(object_id, now, now, data)
        await self.store.write([Put(schema_id, record)])
        return record

    async def read(self, schema_id: str, object_id: str) -> StoredObject:
        record = await self.store.get(schema_id, object_id) if is_uuid(object_id) else None
        if record is None:
            raise NotFound(f"There is no {self.schemas.get(schema_id).title} with id {object_id!r}.")
        return record

    async def _save(self, schema_id: str, current: StoredObject, data: dict[str, Any], problems: list[InvalidParam]) -> StoredObject:
        data = self._checked(schema_id, data, current.id, current.data, problems)
        record = StoredObject(current.id, current.created, self._clock(), data)
        await self.store.write([Put(schema_id, record)])
        return record

    async def replace(self, schema_id: str, object_id: str, body: Any) -> StoredObject:
        current = await self.read(schema_id, object_id)
        data, problems = self._data_from_body(body, object_id)
        return await self._save(schema_id, current, data, problems)

    async def update(self, schema_id: str, object_id: str, patch: Any) -> StoredObject:
        current = await self.read(schema_id, object_id)
        changes, problems = self._data_from_body(patch, object_id)
        return await self._save(schema_id, current, merge_patch(current.data, changes), problems)

    async def delete(self, schema_id: str, object_id: str) -> None:
        await self.read(schema_id, object_id)
        await self.store.write([Delete(schema_id, object_id)])

    async def list(self, schema_id: str, params: Sequence[tuple[str, str]]) -> tuple[Page, ListQuery]:
        query = parse_list_query(params, self.paths(schema_id), self._default_limit, self._max_limit)
        return await self.store.query(schema_id, query), query
