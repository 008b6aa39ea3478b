"""Rendering objects for clients: `id`, `_self`, the properties, and related objects under `embedded`.

A relation property keeps the related object's UUID; the full related object appears under
`embedded.<property>` (mirroring value objects and arrays on the way), down to the requested
objecttype's `maxDepth` (default 3). An object already on the path from the root is not embedded
again, so cycles end. `_extend` paths embed further along the named relations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.context import Principal, scope_for
from gateway_core.documents import values_at
from gateway_core.errors import BadRequest, Forbidden, InvalidParam
from gateway_core.linking import ids_at
from gateway_core.manifest import Endpoint
from gateway_core.relations import RelationModel
from gateway_core.schemas.registry import ObjectType
from gateway_core.storage import Store, StoredObject


@dataclass(frozen=True)
class ClaimedExtend:
    """An `_extend` path served by an action: the relations to follow from the requested object
    (`chain`), the objecttype reached, and the claimed path inside it."""

    path: str
    chain: tuple[str, ...]
    schema_id: str
    suffix: str


def render(
    record: StoredObject, endpoint: Endpoint, object_type: ObjectType, base_path: str
) -> dict[str, Any]:
    """The object as clients see it: `id`, `_self` metadata, then the schema's properties."""
    return {
        "id": record.id,
        "_self": {
            "id": record.id,
            "self": f"{base_path}{endpoint.route}/{record.id}",
            "schema": {"id": object_type.id, "ref": object_type.id, "name": object_type.title},
            "dateCreated": record.created,
            "dateModified": record.modified,
            "owner": record.owner,
            "version": record.version,
        },
        **record.data,
    }


@dataclass
class _Trace:
    looked_up: bool = False


def _mirror(value: Any, parts: list[str], objects: dict[str, dict[str, Any]]) -> Any:
    """The shape of `value` along `parts`, with the referenced ids replaced by embedded objects."""
    if not parts:
        if isinstance(value, list):
            return [objects[v] for v in value if isinstance(v, str) and v in objects]
        return objects.get(value) if isinstance(value, str) else None
    if isinstance(value, list):
        return [_mirror(element, parts, objects) for element in value]
    if isinstance(value, dict) and parts[0] in value:
        inner = _mirror(value[parts[0]], parts[1:], objects)
        return {parts[0]: inner} if inner not in (None, []) else {}
    return {}


def _merge(left: Any, right: Any) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        merged = dict(left)
        for key, value in right.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [_merge(a, b) for a, b in zip(left, right, strict=True)]
    return right


class Renderer:
    def __init__(
        self,
        store: Store,
        relations: RelationModel,
        types: dict[str, ObjectType],
        endpoints: Iterable[Endpoint],
        base_path: str,
    ) -> None:
        self.store = store
        self.relations = relations
        self.types = types
        self.base_path = base_path
        self.endpoint_of: dict[str, Endpoint] = {}
        for endpoint in endpoints:
            self.endpoint_of.setdefault(endpoint.schema_id, endpoint)

    def check_extend(
        self,
        schema_id: str,
        paths: tuple[str, ...],
        principal: Principal,
        claims: Mapping[str, frozenset[str]] | None = None,
        parameter: str = "_extend",
    ) -> list[ClaimedExtend]:
        """Every `_extend` path must be a chain of relations to objecttypes the caller may read,
        optionally ending in a path that an action claims for the objecttype reached
        (`claims`: objecttype -> paths). Returns the claimed ones."""
        claimed: list[ClaimedExtend] = []
        for path in paths:
            current, rest = schema_id, path
            chain: list[str] = []
            while rest:
                if rest in (claims or {}).get(current, ()):
                    claimed.append(ClaimedExtend(path, tuple(chain), current, rest))
                    break
                relation = next(
                    (
                        r
                        for r in sorted(self.relations.of(current), key=lambda r: -len(r.path))
                        if rest == r.path or rest.startswith(r.path + ".")
                    ),
                    None,
                )
                if relation is None:
                    reason = (
                        f"{path!r} is not a chain of relations of {self.types[schema_id].title}"
                    )
                    raise BadRequest(
                        f"Query parameter {parameter!r}: {reason}.",
                        invalid_params=[InvalidParam(parameter, "unknownPath", reason)],
                    )
                if not principal.may(relation.target, "GET"):
                    scope = scope_for(relation.target, "GET")
                    raise Forbidden(
                        f"Query parameter {parameter!r}: {path!r} reaches "
                        f"{self.types[relation.target].title} objects, which need the scope {scope}.",
                        scope,
                        parameter,
                    )
                chain.append(relation.path)
                current, rest = relation.target, rest[len(relation.path) + 1 :]
        return claimed

    def along(self, document: dict[str, Any], chain: tuple[str, ...]) -> list[dict[str, Any]]:
        """The rendered objects reached from `document` through its `embedded` relations."""
        documents = [document]
        for relation_path in chain:
            reached: list[dict[str, Any]] = []
            for holder in documents:
                found = values_at(holder.get("embedded", {}), relation_path)
                reached += [value for value in found if isinstance(value, dict)]
            documents = reached
        return documents

    async def render(
        self,
        schema_id: str,
        record: StoredObject,
        endpoint: Endpoint,
        principal: Principal,
        extend: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The object with its related objects embedded, leaving out (but for their references)
        those of objecttypes the principal may not read."""
        document, _ = await self.render_traced(schema_id, record, endpoint, principal, extend)
        return document

    async def render_traced(
        self,
        schema_id: str,
        record: StoredObject,
        endpoint: Endpoint,
        principal: Principal,
        extend: tuple[str, ...] = (),
    ) -> tuple[dict[str, Any], bool]:
        """`render`, and whether it looked up related objects (then it depends on them too)."""
        max_depth = self.types[schema_id].max_depth
        trace = _Trace()
        document = await self._render(
            schema_id,
            record,
            endpoint,
            0,
            max_depth,
            extend,
            frozenset({record.id}),
            principal,
            trace,
        )
        return document, trace.looked_up

    async def _render(
        self,
        schema_id: str,
        record: StoredObject,
        endpoint: Endpoint,
        depth: int,
        max_depth: int,
        extend: tuple[str, ...],
        trail: frozenset[str],
        principal: Principal,
        trace: _Trace,
    ) -> dict[str, Any]:
        document = render(record, endpoint, self.types[schema_id], self.base_path)
        embedded: dict[str, Any] = {}
        for relation in self.relations.of(schema_id):
            target_ids = ids_at(record.data, relation.path)
            if not target_ids or not principal.may(relation.target, "GET"):
                continue
            deeper = tuple(
                e[len(relation.path) + 1 :] for e in extend if e.startswith(relation.path + ".")
            )
            if depth >= max_depth and relation.path not in extend and not deeper:
                continue
            objects: dict[str, dict[str, Any]] = {}
            for target_id in target_ids:
                if target_id in trail or target_id in objects:
                    continue
                trace.looked_up = True
                related = await self.store.get(relation.target, target_id)
                if related is not None:
                    objects[target_id] = await self._render(
                        relation.target,
                        related,
                        self.endpoint_of[relation.target],
                        depth + 1,
                        max_depth,
                        deeper,
                        trail | {target_id},
                        principal,
                        trace,
                    )
            if objects:
                embedded = _merge(embedded, _mirror(record.data, relation.path.split("."), objects))
        if embedded:
            document["embedded"] = embedded
        return document
