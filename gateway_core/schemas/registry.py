"""Loading schema files into a registry of objecttypes, every `$ref` resolved by `$id`, offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import SchemaError as MetaSchemaError
from jsonschema.validators import Draft202012Validator, validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from gateway_core.errors import SchemaError
from gateway_core.schemas.dialect import Warning, is_schema_document, translate


@dataclass(frozen=True)
class ObjectType:
    """One loaded schema: its identity, the file it came from and its translated JSON Schema."""

    id: str
    title: str
    version: str
    source: str
    schema: dict[str, Any] = field(repr=False)
    warnings: tuple[Warning, ...] = ()

    @property
    def name(self) -> str:
        """A short, URL-safe name derived from the `$id`'s last segment (klant.partij.schema.json -> klant-partij)."""
        last = self.id.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        stem = re.sub(r"(\.schema)?\.json$", "", last, flags=re.IGNORECASE)
        return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "objects"

    @property
    def max_depth(self) -> int:
        value = self.schema.get("maxDepth")
        return value if isinstance(value, int) and value >= 0 else 3

    @property
    def audited(self) -> bool:
        """Whether changes get audit trail entries (CG's `createAuditTrails`, on by default)."""
        return self.schema.get("createAuditTrails") is not False


@dataclass(frozen=True)
class SchemaSet:
    """The loaded objecttypes by `$id` and the `referencing` registry that resolves between them."""

    types: dict[str, ObjectType]
    registry: Registry[Any]

    def get(self, schema_id: str) -> ObjectType:
        return self.types[schema_id]

    def resolve(self, ref: str, base_id: str) -> tuple[dict[str, Any], str]:
        """The subschema a `$ref` points at, and the `$id` of the document holding it."""
        resolved = self.registry.resolver(base_uri=base_id).lookup(ref)
        contents = resolved.contents
        holder = ref.split("#", 1)[0] or base_id
        return (contents if isinstance(contents, dict) else {}), holder


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.\-+]", version)
    )


def iter_schema_files(sources: Iterable[Path]) -> Iterator[Path]:
    for source in sources:
        if source.is_file():
            yield source
        elif source.is_dir():
            yield from sorted(path for path in source.rglob("*.json") if path.is_file())
        else:
            raise SchemaError(str(source), "/", "schema folder does not exist")


def read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SchemaError(str(path), "/", f"not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise SchemaError(str(path), "/", f"cannot be read: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            str(path), "/", f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None


def load_object_type(path: Path, document: dict[str, Any]) -> ObjectType:
    schema, warnings = translate(document)
    schema_id = schema.get("$id")
    if schema_id is None:
        schema_id = f"urn:gateway:schema:{path.name.removesuffix('.json')}"
        schema["$id"] = schema_id
    if not isinstance(schema_id, str) or not schema_id:
        raise SchemaError(str(path), "/$id", "$id must be a non-empty string")
    version = schema.get("version", "0.0.0")
    if not isinstance(version, str):
        version = str(version)
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except MetaSchemaError as error:
        pointer = "/" + "/".join(str(part) for part in error.path)
        raise SchemaError(str(path), pointer, f"invalid schema: {error.message}") from None
    title = schema.get("title") if isinstance(schema.get("title"), str) else None
    return ObjectType(
        id=schema_id,
        title=title or path.name,
        version=version,
        source=str(path),
        schema=schema,
        warnings=tuple(warnings),
    )


def _pick(current: ObjectType | None, candidate: ObjectType) -> ObjectType:
    """Version gating: the higher `version` wins; equal versions must have equal content."""
    if current is None:
        return candidate
    if _version_key(candidate.version) > _version_key(current.version):
        return candidate
    if _version_key(candidate.version) < _version_key(current.version):
        return current
    if candidate.schema != current.schema:
        raise SchemaError(
            candidate.source,
            "/$id",
            f"$id {candidate.id!r} version {candidate.version} is also defined, "
            f"with other content, in {current.source}",
        )
    return current


def _refs(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key == "$ref" and isinstance(value, str):
                yield child, value
            else:
                yield from _refs(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, f"{pointer}/{index}")


def build_schema_set(object_types: Iterable[ObjectType]) -> SchemaSet:
    chosen: dict[str, ObjectType] = {}
    for object_type in object_types:
        chosen[object_type.id] = _pick(chosen.get(object_type.id), object_type)
    registry: Registry[Any] = (
        Registry()
        .with_resources(
            (t.id, Resource.from_contents(t.schema, default_specification=DRAFT202012))
            for t in chosen.values()
        )
        .crawl()
    )
    for object_type in chosen.values():
        resolver = registry.resolver(base_uri=object_type.id)
        for pointer, ref in _refs(object_type.schema):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                raise SchemaError(
                    object_type.source, pointer, f"$ref {ref!r} resolves to no loaded schema"
                ) from None
    return SchemaSet(types=chosen, registry=registry)


def load_schemas(sources: Iterable[Path]) -> SchemaSet:
    """Read every schema file under `sources`; JSON files that are no schema are passed over."""
    loaded = []
    for path in iter_schema_files(sources):
        document = read_json(path)
        if is_schema_document(document):
            loaded.append(load_object_type(path, document))
    return build_schema_set(loaded)
