"""Relations between objects, classified once when schemas and endpoints are loaded.

A `$ref` (or `items.$ref`) to a schema that has an endpoint of its own is a relation: the parent
stores the related object's UUID. A `$ref` to a schema without an endpoint, or a property marked
`format: json`, is a value object stored inline. `classify` returns the storage schemas (every
relation replaced by a UUID reference marked with `x-relation`) and the relation model.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway_core.schemas.paths import RELATION_KEYWORD, schema_paths
from gateway_core.schemas.registry import ObjectType, SchemaSet

_REFERENCE = {"type": "string", "format": "uuid"}
_KEPT = (
    "description",
    "title",
    "inversedBy",
    "cascadeDelete",
    "readOnly",
    "immutable",
    "deprecated",
)


@dataclass(frozen=True)
class Relation:
    """`source` objects hold at `path` (dotted, through value objects and arrays) the UUID(s) of
    `target` objects. `inverse` is the target's property kept in step (two-way links)."""

    source: str
    path: str
    target: str
    many: bool
    inverse: str | None = None
    cascade_delete: bool = False
    supplied: bool = False  # the engine added this property (the missing side of an inversedBy)

    @property
    def top_level(self) -> bool:
        return "." not in self.path

    def unchanged(self, before: dict[str, Any], after: dict[str, Any]) -> bool:
        """Whether the property holding this relation is equal in both documents: then so are
        the references at its path (one comparison in C instead of two walks)."""
        root = self.path.partition(".")[0]
        return bool(before.get(root) == after.get(root))


@dataclass(frozen=True)
class RelationModel:
    schemas: SchemaSet  # storage schemas: relations are UUID references
    by_source: dict[str, tuple[Relation, ...]]
    warnings: tuple[tuple[str, str, str], ...]  # (source file, pointer, message)

    def of(self, schema_id: str) -> tuple[Relation, ...]:
        return self.by_source.get(schema_id, ())

    def at(self, schema_id: str, path: str) -> Relation | None:
        return next((r for r in self.of(schema_id) if r.path == path), None)

    def pointing_at(self, target: str) -> Iterator[Relation]:
        for relations in self.by_source.values():
            yield from (r for r in relations if r.target == target)


def _reference(node: dict[str, Any], target: str) -> dict[str, Any]:
    reference: dict[str, Any] = {**_REFERENCE, RELATION_KEYWORD: target}
    reference.update({key: node[key] for key in _KEPT if key in node})
    return reference


def _rewrite(node: Any, schemas: SchemaSet, base: str, served: set[str]) -> Any:
    """The node with every relation `$ref` replaced by a UUID reference."""
    if isinstance(node, list):
        return [_rewrite(child, schemas, base, served) for child in node]
    if not isinstance(node, dict) or node.get("format") == "json":
        return node  # CG's marker: everything below is stored inline
    ref = node.get("$ref")
    if isinstance(ref, str) and node.get("format") != "json":
        _, holder = schemas.resolve(ref, base)
        if holder in served and "#" not in ref.rstrip("#"):
            return _reference(node, holder)
    rewritten = {}
    for key, value in node.items():
        if key in ("enum", "const", "default", "examples", "required"):
            rewritten[key] = value
        else:
            rewritten[key] = _rewrite(value, schemas, base, served)
    return rewritten


def _opaque(node: Any) -> Any:
    """The node with everything below a `format: json` property cut off (it is stored inline, so
    no relation is found there, even where its `$ref` leads to a schema that has relations)."""
    if isinstance(node, list):
        return [_opaque(child) for child in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "json":
        return {key: node[key] for key in ("type", "format", "title", "description") if key in node}
    literal = ("enum", "const", "default", "examples", "required")
    return {key: value if key in literal else _opaque(value) for key, value in node.items()}


def _storage_schemas(schemas: SchemaSet, served: set[str]) -> dict[str, ObjectType]:
    types: dict[str, ObjectType] = {}
    for object_type in schemas.types.values():
        schema = _rewrite(copy.deepcopy(object_type.schema), schemas, object_type.id, served)
        types[object_type.id] = ObjectType(
            object_type.id,
            object_type.title,
            object_type.version,
            object_type.source,
            schema,
            object_type.warnings,
        )
    return types


def _with_registry(types: dict[str, ObjectType]) -> SchemaSet:
    registry: Registry[Any] = (
        Registry()
        .with_resources(
            (t.id, Resource.from_contents(t.schema, default_specification=DRAFT202012))
            for t in types.values()
        )
        .crawl()
    )
    return SchemaSet(types, registry)


def classify(schemas: SchemaSet, served: Iterable[str]) -> RelationModel:
    """Relations of every objecttype; `served` are the `$id`s that have an endpoint."""
    served_ids = set(served)
    types = _storage_schemas(schemas, served_ids)
    warnings: list[tuple[str, str, str]] = []
    found: dict[str, list[Relation]] = {}
    view = _with_registry({sid: replace(t, schema=_opaque(t.schema)) for sid, t in types.items()})
    for object_type in types.values():
        for info in schema_paths(view, view.get(object_type.id)).values():
            if info.relation is None:
                continue
            inverse = info.inverse
            if inverse is not None and "." in info.path:
                warnings.append(
                    (
                        object_type.source,
                        "/properties/" + info.path.replace(".", "/"),
                        f"inversedBy {inverse!r} inside a value object is not kept in step",
                    )
                )
                inverse = None
            found.setdefault(object_type.id, []).append(
                Relation(
                    object_type.id,
                    info.path,
                    info.relation,
                    info.is_array,
                    inverse,
                    info.cascade_delete,
                )
            )
    _supply_inverses(types, found, warnings)
    storage = _with_registry(types)
    return RelationModel(storage, {k: tuple(v) for k, v in found.items()}, tuple(warnings))


def _supply_inverses(
    types: dict[str, ObjectType],
    found: dict[str, list[Relation]],
    warnings: list[tuple[str, str, str]],
) -> None:
    """Check every inversedBy; add the reverse property where the target does not declare it."""
    for source, relations in list(found.items()):
        for index, relation in enumerate(list(relations)):
            if relation.inverse is None:
                continue
            target = types[relation.target]
            props = target.schema.setdefault("properties", {})
            pointer = f"/properties/{relation.path}/inversedBy"
            existing = next(
                (r for r in found.get(relation.target, []) if r.path == relation.inverse), None
            )
            if existing is None and relation.inverse in props:
                warnings.append(
                    (
                        types[source].source,
                        pointer,
                        f"{relation.inverse!r} of {target.title} is no relation to {types[source].title}: link kept one-way",
                    )
                )
                relations[index] = _replace(relation, inverse=None)
                continue
            if existing is None:
                props[relation.inverse] = {
                    "type": "array",
                    "items": {**_REFERENCE, RELATION_KEYWORD: source},
                    "inversedBy": relation.path,
                    "description": f"Supplied by the gateway: the {types[source].title} objects whose {relation.path} points here.",
                }
                found.setdefault(relation.target, []).append(
                    Relation(
                        relation.target,
                        relation.inverse,
                        source,
                        True,
                        relation.path,
                        supplied=True,
                    )
                )
                warnings.append(
                    (
                        types[source].source,
                        pointer,
                        f"{target.title} declares no {relation.inverse!r}: the gateway supplies it",
                    )
                )
            elif existing.target != source:
                warnings.append(
                    (
                        types[source].source,
                        pointer,
                        f"{target.title}.{relation.inverse} points at {existing.target}, not here: link kept one-way",
                    )
                )
                relations[index] = _replace(relation, inverse=None)
            elif existing.inverse != relation.path:
                position = found[relation.target].index(existing)
                found[relation.target][position] = _replace(existing, inverse=relation.path)


def _replace(relation: Relation, **changes: Any) -> Relation:
    return replace(relation, **changes)
