"""The audit trail: who changed what about an object, and when (docs/governance.md).

`AuditTrail` is a batch listener: for every object a write creates, changes or deletes (of an
objecttype whose schema does not say `"createAuditTrails": false`), it adds one entry to the
`gateway:audittrail` collection in the SAME store batch as the change, so neither exists without
the other, also across a kill -9. An entry holds when, which client (null: anonymous), the
request, the action, the version it made, every changed dotted path with its old and new value,
and the object's data as of that version (for `?_version=N`).

Paths: objects are compared key by key down to their leaves (`persoon.achternaam`, also when the
object is new or removed); an array, or a value that changes kind, is one path with its whole old
and new value (`verstrekteAdressen`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from gateway_core.context import RequestContext
from gateway_core.linking import ObjectChange
from gateway_core.query import Condition, ListQuery, Order
from gateway_core.storage import Change, Page, Put, Store, StoredObject

AUDIT = "gateway:audittrail"
_ABSENT = object()
_SCALARS = (str, int, float, bool, type(None))


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Every dotted path whose value differs, with the old and new value (None: absent)."""
    if old is _ABSENT and isinstance(new, dict):
        old = {}
    if new is _ABSENT and isinstance(old, dict):
        new = {}
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in [*old, *(k for k in new if k not in old)]:
            before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if type(before) is type(after) and type(before) in _SCALARS and before == after:
                continue  # most members of an update: no call for them
            path = f"{prefix}.{key}" if prefix else key
            changes += changed_paths(before, after, path)
        return changes
    if old == new and type(old) is type(new):
        return []
    return [
        {
            "path": prefix,
            "old": None if old is _ABSENT else old,
            "new": None if new is _ABSENT else new,
        }
    ]


class AuditTrail:
    def __init__(self, audited: Callable[[str], bool], clock: Callable[[], str]) -> None:
        self.audited = audited
        self.clock = clock

    def __call__(
        self, changes: Sequence[ObjectChange], context: RequestContext
    ) -> Sequence[Change]:
        entries: list[Change] = []
        now = self.clock()
        for change in changes:
            if not self.audited(change.schema_id):
                continue
            action = change.action
            if action == "update" and change.primary and context.method == "PATCH":
                action = "partial_update"
            before = change.before.data if change.before else {}
            after = change.after.data if change.after else {}
            version = change.after.version if change.after else change.before.version + 1  # type: ignore[union-attr]
            data = {
                "object": change.object_id,
                "schema": change.schema_id,
                "action": action,
                "client": context.client_id,
                "request": context.request_id,
                "version": version,
                "changes": changed_paths(before, after),
                "data": change.after.data if change.after else None,
            }
            entries.append(
                Put(AUDIT, StoredObject(str(uuid.uuid4()), now, now, data, context.client_id))
            )
        return entries


def _of(schema_id: str, object_id: str) -> tuple[Condition, ...]:
    return (
        Condition("object", "exact", object_id, "string", "object"),
        Condition("schema", "exact", schema_id, "string", "schema"),
    )


async def audit_entries(
    store: Store, schema_id: str, object_id: str, limit: int, offset: int
) -> Page:
    """The object's entries, newest first."""
    query = ListQuery(
        _of(schema_id, object_id),
        order=(Order("version", True, "number"),),
        limit=limit,
        offset=offset,
    )
    return await store.query(AUDIT, query)


async def version_of(
    store: Store, schema_id: str, object_id: str, version: int
) -> StoredObject | None:
    """The object as it was at `version` (from its audit entry), or None."""
    conditions = (
        *_of(schema_id, object_id),
        Condition("version", "eq", version, "number", "version"),
    )
    page = await store.query(AUDIT, ListQuery(conditions, limit=1))
    if not page.items or page.items[0].data.get("data") is None:
        return None
    entry = page.items[0]
    first = await store.query(
        AUDIT,
        ListQuery(_of(schema_id, object_id), order=(Order("version", False, "number"),), limit=1),
    )
    created = first.items[0].created if first.items else entry.created
    owner = first.items[0].data.get("client") if first.items else None
    return StoredObject(object_id, created, entry.created, entry.data["data"], owner, version)


def present_entry(entry: StoredObject) -> dict[str, Any]:
    data = entry.data
    return {
        "id": entry.id,
        "when": entry.created,
        "action": data["action"],
        "client": data["client"],
        "version": data["version"],
        "request": data["request"],
        "changes": data["changes"],
    }
