"""Evaluating filter conditions on records in Python (used by the embedded backend)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from gateway_core.query import Condition
from gateway_core.schemas.formats import parse_date_time
from gateway_core.storage.base import StoredObject

_METADATA = {"_self.dateCreated": "created", "_self.dateModified": "modified"}


def _descend(value: Any, parts: list[str]) -> Iterator[Any]:
    """Every value at the dotted path; a list on the way (or at the end) yields each element."""
    if isinstance(value, list):
        for element in value:
            yield from _descend(element, parts)
        return
    if not parts:
        yield value
        return
    if isinstance(value, dict) and parts[0] in value:
        yield from _descend(value[parts[0]], parts[1:])


def values_at(record: StoredObject, path: str) -> list[Any]:
    if path == "id":
        return [record.id]
    if path in _METADATA:
        return [getattr(record, _METADATA[path])]
    return list(_descend(record.data, path.split(".")))


def _same(stored: Any, wanted: Any, kind: str) -> bool:
    if kind == "number":
        return isinstance(stored, int | float) and not isinstance(stored, bool) and stored == wanted
    if kind == "boolean":
        return isinstance(stored, bool) and stored == wanted
    if kind == "date-time" and isinstance(wanted, datetime):
        moment = parse_date_time(stored) if isinstance(stored, str) else None
        return moment is not None and moment == wanted
    return isinstance(stored, str) and stored.casefold() == str(wanted).casefold()


def matches(record: StoredObject, condition: Condition) -> bool:
    values = values_at(record, condition.path)
    wanted = condition.value if condition.operator == "in" else (condition.value,)
    return any(_same(value, target, condition.kind) for value in values for target in wanted)


def matches_all(record: StoredObject, conditions: tuple[Condition, ...]) -> bool:
    return all(matches(record, condition) for condition in conditions)
