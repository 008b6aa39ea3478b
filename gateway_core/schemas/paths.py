"""The dotted paths an objecttype has, through nested objects, arrays and `$ref`, with their types.

The query layer uses this to reject filters on paths that do not exist and to compare values by
the schema's type (numbers as numbers, date-times as instants, booleans as booleans).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway_core.schemas.registry import ObjectType, SchemaSet

_MAX_DEPTH = 8
RELATION_KEYWORD = "x-relation"  # set by gateway_core.relations on reference properties


@dataclass(frozen=True)
class PathInfo:
    path: str
    types: frozenset[str]  # JSON Schema types; empty = any
    format: str | None
    in_array: bool  # the path crosses an array: any element may match
    is_array: bool = False  # the value here is an array (types/format describe its items)
    relation: str | None = None  # the target schema `$id` when the value is a reference (UUID)
    inverse: str | None = None  # a relation's `inversedBy`
    cascade_delete: bool = False  # a relation's `cascadeDelete`
    value_schema: str | None = None  # the `$id` of the value object's schema, when `$ref` made it
    array_prefixes: tuple[str, ...] = ()  # the prefixes of `path` (itself included) holding arrays

    @property
    def scalar_type(self) -> str:
        """The type filters compare by: date-time, date, number, boolean or string."""
        if self.format in ("date-time", "date") and (not self.types or "string" in self.types):
            return self.format
        if self.types & {"integer", "number"}:
            return "number"
        if self.types == {"boolean"}:
            return "boolean"
        return "string"


def _types(schema: dict[str, Any]) -> frozenset[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return frozenset({kind})
    if isinstance(kind, list):
        return frozenset(k for k in kind if isinstance(k, str))
    if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
        return frozenset({"string"})
    return frozenset()


def _merge(
    schemas: SchemaSet, schema: dict[str, Any], base: str, seen: frozenset[str]
) -> tuple[dict[str, Any], str, frozenset[str]]:
    """Fold a `$ref` target into the schema (its siblings win), following chains."""
    merged = dict(schema)
    while isinstance(merged.get("$ref"), str):
        ref = merged.pop("$ref")
        holder_id = ref.split("#", 1)[0] or base
        if holder_id in seen:
            return {}, base, seen  # a cycle: stop descending
        target, base = schemas.resolve(ref, base)
        seen = seen | {holder_id}
        merged = {**target, **merged}
    return merged, base, seen


def schema_paths(schemas: SchemaSet, object_type: ObjectType) -> dict[str, PathInfo]:
    paths: dict[str, PathInfo] = {}

    def visit(
        schema: dict[str, Any],
        base: str,
        prefix: str,
        in_array: bool,
        seen: frozenset[str],
        depth: int,
        arrays: tuple[str, ...],
    ) -> None:
        if depth > _MAX_DEPTH:
            return
        referred = isinstance(schema.get("$ref"), str)
        schema, base, seen = _merge(schemas, schema, base, seen)
        items = schema.get("items")
        if isinstance(items, dict):
            item_referred = isinstance(items.get("$ref"), str)
            item_schema, item_base, item_seen = _merge(schemas, items, base, seen)
            if prefix:
                arrays = (*arrays, prefix)
                paths[prefix] = PathInfo(
                    prefix,
                    _types(item_schema),
                    _format(item_schema),
                    True,
                    True,
                    *_relation(item_schema, schema),
                    item_base if item_referred else None,
                    arrays,
                )
            visit(item_schema, item_base, prefix, True, item_seen, depth + 1, arrays)
            return
        if prefix and prefix not in paths:
            paths[prefix] = PathInfo(
                prefix,
                _types(schema),
                _format(schema),
                in_array,
                False,
                *_relation(schema, schema),
                base if referred else None,
                arrays,
            )
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if isinstance(sub, dict):
                    path = f"{prefix}.{name}" if prefix else name
                    visit(sub, base, path, in_array, seen, depth + 1, arrays)

    visit(object_type.schema, object_type.id, "", False, frozenset({object_type.id}), 0, ())
    return paths


def _format(schema: dict[str, Any]) -> str | None:
    value = schema.get("format")
    return value if isinstance(value, str) else None


def _relation(node: dict[str, Any], holder: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(target, inversedBy, cascadeDelete) of a reference node; `holder` is the array around it, if any."""
    target = node.get(RELATION_KEYWORD)
    if not isinstance(target, str):
        return None, None, False
    inverse = holder.get("inversedBy", node.get("inversedBy"))
    cascade = holder.get("cascadeDelete", node.get("cascadeDelete")) is True
    return target, inverse if isinstance(inverse, str) else None, cascade
