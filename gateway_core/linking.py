"""One write request as a plan: nested creates, references, two-way links and deletes, all or nothing.

A `WritePlan` loads the objects a request touches into a working set, changes them there and,
only when everything is valid, hands the store one batch (`Store.write` applies it atomically).
Rules (docs/relations.md):
- a relation value may be a nested object (created; with an `id`: that object is updated), the
  UUID of an existing object of the target schema, or its URL;
- `inversedBy` links are kept in step on both sides;
- deleting an object: relations with `cascadeDelete` delete dependants (a to-one reference with
  cascadeDelete depends on its target; a to-many one owns its targets); a two-way link or an
  owning list is unlinked where the holder may lose the reference (it stays valid without it);
  a holder that cannot lose it (a required reference, a list at its minItems) and any other
  reference make the delete a 409 naming who references it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway_core.context import RequestContext, scope_for
from gateway_core.documents import copy_document
from gateway_core.errors import Conflict, Forbidden, InvalidParam, ValidationFailed
from gateway_core.query import Condition, ListQuery, arrays_of
from gateway_core.relations import Relation, RelationModel
from gateway_core.schemas.formats import is_uuid
from gateway_core.schemas.paths import PathInfo
from gateway_core.storage import Delete, Put, Store, StoredObject

OUTPUT_ONLY = ("_self", "embedded")
ALL = 2**31 - 1

Validate = Callable[
    [str, dict[str, Any], str, "dict[str, Any] | None", str],
    tuple[dict[str, Any], list[InvalidParam]],
]


@dataclass(frozen=True)
class ObjectChange:
    """One object a write batch creates (`before` None), changes, or deletes (`after` None)."""

    schema_id: str
    before: StoredObject | None
    after: StoredObject | None
    primary: bool = False  # the object the request was about (not a nested or linked one)

    @property
    def action(self) -> str:
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"

    @property
    def object_id(self) -> str:
        record = self.after or self.before
        assert record is not None
        return record.id


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, `null` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def unknown_removals(
    patch: Any, paths: Mapping[str, PathInfo], prefix: str = ""
) -> list[InvalidParam]:
    """`null` members of a merge patch that name no property (a merge would drop them silently):
    unknown properties are refused, in a PATCH too. Relation values are not looked into."""
    if not isinstance(patch, dict):
        return []
    problems: list[InvalidParam] = []
    for key, value in patch.items():
        path = f"{prefix}.{key}" if prefix else key
        known = paths.get(path)
        if known is None and value is None:
            problems.append(InvalidParam(path, "additionalProperties", "is not a property"))
        elif known is not None and known.relation is None:
            problems += unknown_removals(value, paths, path)
    return problems


def ids_at(data: Any, path: str) -> list[str]:
    """The UUIDs stored at a relation path (through value objects and arrays)."""
    found: list[str] = []
    _collect_ids(data, path.split("."), 0, found)
    return found


def _collect_ids(value: Any, parts: list[str], depth: int, found: list[str]) -> None:
    # a module function, not a closure: a recursive closure is a reference cycle per call, left
    # to the cycle collector (measured: its pauses were the tail of concurrent PATCH latency)
    if isinstance(value, list):
        for element in value:
            _collect_ids(element, parts, depth, found)
    elif depth == len(parts):
        if isinstance(value, str):
            found.append(value)
    elif isinstance(value, dict) and parts[depth] in value:
        _collect_ids(value[parts[depth]], parts, depth + 1, found)


def _locations(
    value: Any, parts: list[str], name: str, holder: Any = None, key: Any = None
) -> Iterator[tuple[Any, Any, str]]:
    """(container, key, dotted name) of every value at the path, element-wise through arrays."""
    if not parts:
        if isinstance(value, list) and holder is not None:
            for index in range(len(value)):
                yield value, index, f"{name}.{index}"
        elif holder is not None:
            yield holder, key, name
        return
    if isinstance(value, list):
        for index, element in enumerate(value):
            yield from _locations(element, parts, f"{name}.{index}")
    elif isinstance(value, dict) and parts[0] in value:
        child = f"{name}.{parts[0]}" if name else parts[0]
        yield from _locations(value[parts[0]], parts[1:], child, value, parts[0])


def remove_reference(data: dict[str, Any], path: str, object_id: str) -> bool:
    """Drop `object_id` from a relation path (a to-one key goes, a to-many element goes)."""
    return _remove_reference(data, path.split("."), object_id)


def _remove_reference(value: Any, parts: list[str], object_id: str) -> bool:
    if isinstance(value, list):
        changed = False
        for element in value:
            changed = _remove_reference(element, parts, object_id) or changed
        return changed
    if not isinstance(value, dict) or parts[0] not in value:
        return False
    if len(parts) > 1:
        return _remove_reference(value[parts[0]], parts[1:], object_id)
    if value[parts[0]] == object_id:
        del value[parts[0]]
        return True
    if isinstance(value[parts[0]], list) and object_id in value[parts[0]]:
        value[parts[0]] = [v for v in value[parts[0]] if v != object_id]
        return True
    return False


class WritePlan:
    def __init__(
        self,
        store: Store,
        relations: RelationModel,
        validate: Validate,
        paths: Callable[[str], dict[str, PathInfo]],
        routes: dict[str, list[str]],
        clock: Callable[[], str],
        titles: dict[str, str],
        context: RequestContext,
    ) -> None:
        self.context = context
        self.store = store
        self.relations = relations
        self.validate = validate
        self.paths = paths
        self.routes = routes  # schema $id -> item route prefixes ("/api/kic/v1/partijen/")
        self.clock = clock
        self.titles = titles
        self.working: dict[tuple[str, str], StoredObject] = {}
        self.originals: dict[tuple[str, str], StoredObject] = {}  # as stored before this plan
        self.dirty: dict[tuple[str, str], None] = {}  # insertion-ordered: creation order is kept
        self.deleted: set[tuple[str, str]] = set()
        self.problems: list[InvalidParam] = []
        self.primary: tuple[str, str] | None = None  # set by the service: the request's object
        self.unresolved: set[str] = set()  # bad relation values, reported: no schema problem too
        # objects a two-way link let go of: (schema, id, path, field of the request)
        self.released: list[tuple[str, str, str, str]] = []

    # -- the working set ---------------------------------------------------------------------

    async def load(self, schema_id: str, object_id: str) -> StoredObject | None:
        key = (schema_id, object_id)
        if key in self.deleted:
            return None
        if key not in self.working:
            record = await self.store.get(schema_id, object_id) if is_uuid(object_id) else None
            if record is None:
                return None
            self.working[key] = self.originals[key] = record
        return self.working[key]

    def keep(self, schema_id: str, record: StoredObject) -> None:
        """Hold `record` as the new state of its object: one version above the stored one, however
        often the plan changes it."""
        key = (schema_id, record.id)
        original = self.originals.get(key)
        version = original.version + 1 if original is not None else 1
        if record.version != version:
            record = dataclasses.replace(record, version=version)
        self.working[key] = record
        self.dirty[key] = None

    def touch(self, schema_id: str, record: StoredObject, data: dict[str, Any]) -> None:
        self.keep(schema_id, dataclasses.replace(record, modified=self.clock(), data=data))

    def permit(self, schema_id: str, method: str, name: str) -> None:
        """A nested write creates or changes an object of another objecttype: the caller needs
        that objecttype's scope as if it had sent the request there."""
        if not self.context.principal.may(schema_id, method):
            scope = scope_for(schema_id, method)
            raise Forbidden(
                f"Field {name!r} would {'create' if method == 'POST' else 'change'} a "
                f"{self.titles[schema_id]}, which needs the scope {scope}.",
                scope,
                name,
            )

    def batch(self) -> tuple[list[Put | Delete], list[ObjectChange]]:
        """The store changes of the plan and, per object, what it was and what it becomes; raises
        ValidationFailed when anything was invalid."""
        self._check_released()
        if self.problems:
            raise ValidationFailed(self.problems)
        changes: list[Put | Delete] = []
        objects: list[ObjectChange] = []
        for key in self.dirty:
            if key not in self.deleted:
                changes.append(Put(key[0], self.working[key]))
                objects.append(
                    ObjectChange(
                        key[0], self.originals.get(key), self.working[key], key == self.primary
                    )
                )
        for key in self.deleted:
            changes.append(Delete(*key))
            original = self.originals.get(key)
            if original is not None:
                objects.append(ObjectChange(key[0], original, None, key == self.primary))
        return changes, objects

    # -- create and update -------------------------------------------------------------------

    async def create(
        self, schema_id: str, data: dict[str, Any], name: str = "", object_id: str | None = None
    ) -> StoredObject:
        object_id = object_id or str(uuid.uuid4())
        now = self.clock()
        owner = self.context.client_id
        placeholder = StoredObject(object_id, now, now, {}, owner)
        self.working[(schema_id, object_id)] = placeholder  # lets nested objects refer back to it
        data = await self._resolve(schema_id, data, name)
        data, problems = self.validate(schema_id, data, object_id, None, name)
        self.problems += [p for p in problems if p.name not in self.unresolved]
        record = StoredObject(object_id, now, now, data, owner)
        self.keep(schema_id, record)
        await self._link(schema_id, None, record)
        return self.working[(schema_id, object_id)]

    async def update(
        self, schema_id: str, current: StoredObject, data: dict[str, Any], name: str = ""
    ) -> StoredObject:
        data = await self._resolve(schema_id, data, name)
        data, problems = self.validate(schema_id, data, current.id, current.data, name)
        self.problems += [p for p in problems if p.name not in self.unresolved]
        if data == current.data:
            return current  # nothing changes: no write, dateModified stays
        record = dataclasses.replace(current, modified=self.clock(), data=data)
        self.keep(schema_id, record)
        await self._link(schema_id, current, record)
        return self.working[(schema_id, current.id)]

    def _problem(self, name: str, code: str, reason: str) -> None:
        self.problems.append(InvalidParam(name, code, reason))

    def _reference_id(self, relation: Relation, value: str, name: str) -> str | None:
        """A UUID, or the URL (absolute or a path) of an object served by a target's endpoint."""
        if is_uuid(value):
            return value.lower()
        try:
            path = urlsplit(value).path if "://" in value else value
        except ValueError:  # not a URL at all, e.g. an unclosed IPv6 bracket in the host
            path = ""
        route, _, candidate = path.rstrip("/").rpartition("/")
        if f"{route}/" in self.routes.get(relation.target, []) and is_uuid(candidate):
            return candidate.lower()
        title = self.titles[relation.target]
        self._problem(name, "relation", f"must be a {title} object, its UUID or its URL")
        return None

    async def _resolve(self, schema_id: str, data: dict[str, Any], prefix: str) -> dict[str, Any]:
        """Replace every relation value by a UUID, creating or updating nested objects."""
        for relation in self.relations.of(schema_id):
            for container, key, name in list(_locations(data, relation.path.split("."), "")):
                full = f"{prefix}.{name}" if prefix else name
                value = container[key]
                if value is None:
                    continue
                container[key] = await self._resolve_value(relation, value, full)
        return data

    async def _resolve_value(self, relation: Relation, value: Any, name: str) -> Any:
        reported = len(self.problems)
        resolved = await self._resolve_one(relation, value, name)
        if resolved is value and len(self.problems) > reported:  # left as given, and reported
            self.unresolved.add(name)
        return resolved

    async def _resolve_one(self, relation: Relation, value: Any, name: str) -> Any:
        title = self.titles[relation.target]
        if isinstance(value, dict):
            body = {k: v for k, v in value.items() if k not in OUTPUT_ONLY}
            if "id" not in body:
                self.permit(relation.target, "POST", name)
                return (await self.create(relation.target, body, name)).id
            nested_id = body.pop("id")
            if not isinstance(nested_id, str):
                self._problem(f"{name}.id", "relation", f"must be the id of an existing {title}")
                return value
            existing = await self.load(relation.target, str(nested_id))
            if existing is None:
                self._problem(
                    f"{name}.id", "relation", f"there is no {title} with id {nested_id!r}"
                )
                return value
            self.permit(relation.target, "PATCH", name)
            merged = merge_patch(copy_document(existing.data), body)
            return (await self.update(relation.target, existing, merged, name)).id
        if isinstance(value, str):
            target_id = self._reference_id(relation, value, name)
            if target_id is None:
                return value
            if await self.load(relation.target, target_id) is None:
                self._problem(name, "relation", f"there is no {title} with id {target_id!r}")
            return target_id
        self._problem(name, "type", f"must be a {title} object, its UUID or its URL")
        return value

    # -- two-way links -----------------------------------------------------------------------

    async def _link(self, schema_id: str, old: StoredObject | None, new: StoredObject) -> None:
        for relation in self.relations.of(schema_id):
            if relation.inverse is None or not relation.top_level:
                continue
            if old is not None and relation.unchanged(old.data, new.data):
                continue
            before = set(ids_at(old.data, relation.path)) if old else set()
            after = set(ids_at(new.data, relation.path))
            for target_id in before - after:
                await self._detach(
                    relation.target, target_id, relation.inverse, new.id, relation.path
                )
            for target_id in after - before:
                await self._attach(relation, target_id, new.id)

    async def _detach(
        self, schema_id: str, object_id: str, path: str, reference: str, field: str
    ) -> None:
        """The other side of a two-way link lets go; whether it may (not a required reference,
        not a list at its minItems, or linked again by the same write) is checked at commit."""
        record = await self.load(schema_id, object_id)
        if record is None:
            return
        data = copy_document(record.data)
        if remove_reference(data, path, reference):
            self.touch(schema_id, record, data)
            self.released.append((schema_id, object_id, path, field))

    def _check_released(self) -> None:
        """A write may not take a link from an object that cannot lose it: a 400 naming the
        field, unless the same write linked it again."""
        for schema_id, object_id, path, field in self.released:
            record = self.working.get((schema_id, object_id))
            if record is None or (schema_id, object_id) in self.deleted:
                continue
            if self._needs(schema_id, record, record.data, path):
                title = self.titles[schema_id]
                self._problem(field, "relation", f"{title} {object_id} cannot lose its {path}")

    def _needs(
        self, schema_id: str, record: StoredObject, without: dict[str, Any], path: str
    ) -> bool:
        """Whether the object is invalid without the reference at `path` (`without` is its data
        with the reference removed)."""
        root = path.split(".")[0]
        _, problems = self.validate(schema_id, without, record.id, record.data, "")
        return any(p.name == root or p.name.startswith(f"{root}.") for p in problems)

    async def _attach(self, relation: Relation, target_id: str, source_id: str) -> None:
        assert relation.inverse is not None
        target = await self.load(relation.target, target_id)
        if target is None:
            return
        inverse = self.relations.at(relation.target, relation.inverse)
        data = copy_document(target.data)
        if inverse is not None and inverse.many:
            current = list(data.get(relation.inverse) or [])
            if source_id in current:
                return
            data[relation.inverse] = [*current, source_id]
        else:
            previous = data.get(relation.inverse)
            if previous == source_id:
                return
            if isinstance(previous, str):  # a to-one inverse moves: the old holder lets go
                await self._detach(
                    relation.source, previous, relation.path, target_id, relation.path
                )
            data[relation.inverse] = source_id
        self.touch(relation.target, target, data)

    # -- delete ------------------------------------------------------------------------------

    async def referrers(self, relation: Relation, object_id: str) -> list[StoredObject]:
        paths = self.paths(relation.source)
        condition = Condition(
            relation.path,
            "in",
            (object_id,),
            "string",
            relation.path,
            arrays_of(relation.path, paths),
        )
        page = await self.store.query(relation.source, ListQuery((condition,), limit=ALL))
        found = [self.working.get((relation.source, r.id), r) for r in page.items]
        return [
            r
            for r in found
            if (relation.source, r.id) not in self.deleted
            and object_id in ids_at(r.data, relation.path)
        ]

    async def delete(self, schema_id: str, record: StoredObject) -> None:
        blockers: list[str] = []
        await self._delete(schema_id, record, blockers)
        if blockers:
            shown = "; ".join(blockers[:10]) + ("; ..." if len(blockers) > 10 else "")
            raise Conflict(
                f"{self.titles[schema_id]} {record.id} is still referenced: {shown}. "
                "Remove those references first."
            )

    async def _delete(self, schema_id: str, record: StoredObject, blockers: list[str]) -> None:
        key = (schema_id, record.id)
        if key in self.deleted:
            return
        self.deleted.add(key)
        self.originals.setdefault(key, record)
        for relation in self.relations.of(
            schema_id
        ):  # a to-many relation with cascadeDelete owns its targets
            if relation.cascade_delete and relation.many:
                for target_id in ids_at(record.data, relation.path):
                    target = await self.load(relation.target, target_id)
                    if target is not None:
                        await self._delete(relation.target, target, blockers)
        for relation in list(self.relations.pointing_at(schema_id)):
            for holder in await self.referrers(relation, record.id):
                if relation.cascade_delete and not relation.many:
                    await self._delete(relation.source, holder, blockers)
                elif relation.inverse is not None or (relation.cascade_delete and relation.many):
                    self._unlink(relation, holder, record.id, blockers)
                else:
                    blockers.append(self._named(relation, holder))

    def _unlink(
        self, relation: Relation, holder: StoredObject, object_id: str, blockers: list[str]
    ) -> None:
        """Drop the reference from a holder that may lose it: one that stays valid without it (the
        property is not required; a list keeps its minItems). Any other holder blocks the delete."""
        data = copy_document(holder.data)
        if not remove_reference(data, relation.path, object_id):
            return
        if self._needs(relation.source, holder, data, relation.path):
            blockers.append(self._named(relation, holder, "cannot lose it"))
            return
        self.touch(relation.source, holder, data)

    def _named(self, relation: Relation, holder: StoredObject, why: str = "") -> str:
        because = f", {why}" if why else ""
        return f"{self.titles[relation.source]} {holder.id} ({relation.path}{because})"
