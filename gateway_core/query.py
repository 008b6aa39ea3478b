"""Query strings -> a backend-neutral list query: filter conditions (AND), paging.

Parsing is typed by the objecttype's schema paths: a filter on a path the schema does not have,
or with a value that does not fit the path's type, is a 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_core.errors import BadRequest, InvalidParam
from gateway_core.schemas.formats import parse_date_time
from gateway_core.schemas.paths import PathInfo

METADATA_PATHS = {
    "id": PathInfo("id", frozenset({"string"}), "uuid", False),
    "_self.dateCreated": PathInfo("_self.dateCreated", frozenset({"string"}), "date-time", False),
    "_self.dateModified": PathInfo("_self.dateModified", frozenset({"string"}), "date-time", False),
}


@dataclass(frozen=True)
class Condition:
    """`path` (dotted; any array element may match) compared with `operator` to `value`.

    operator "eq": equality by `kind` (strings case-insensitively as whole values);
    "in": equality with any of `value` (a tuple).
    """

    path: str
    operator: str
    value: Any
    kind: str
    parameter: str


@dataclass(frozen=True)
class ListQuery:
    conditions: tuple[Condition, ...] = ()
    limit: int = 30
    page: int = 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _bad(parameter: str, code: str, reason: str) -> BadRequest:
    return BadRequest(
        f"Query parameter {parameter!r} {reason}.",
        invalid_params=[InvalidParam(parameter, code, reason)],
    )


def typed_value(raw: str, info: PathInfo, parameter: str) -> Any:
    """The query-string text read as the path's type."""
    kind = info.scalar_type
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise _bad(parameter, "type", f"must be a number, got {raw!r}") from None
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _bad(parameter, "type", f"must be true or false, got {raw!r}")
        return lowered in ("true", "1")
    if kind == "date-time":
        moment = parse_date_time(raw)
        if moment is None:
            raise _bad(parameter, "format", f"must be a date-time with a time zone, got {raw!r}")
        return moment
    return raw


def _positive_int(raw: str, parameter: str, maximum: int | None = None) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise _bad(parameter, "type", f"must be a whole number, got {raw!r}") from None
    if number < 1 or (maximum is not None and number > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise _bad(parameter, "range", f"must be at least 1{limit}, got {number}")
    return number


def parse_list_query(
    params: Sequence[tuple[str, str]],
    paths: Mapping[str, PathInfo],
    default_limit: int,
    max_limit: int,
) -> ListQuery:
    limit, page = default_limit, 1
    grouped: dict[str, list[str]] = {}
    for key, raw in params:
        if key in ("_limit", "limit"):
            limit = _positive_int(raw, key, max_limit)
        elif key in ("_page", "page"):
            page = _positive_int(raw, key)
        else:
            grouped.setdefault(key, []).append(raw)
    conditions: list[Condition] = []
    for key, values in grouped.items():
        path = key[:-2] if key.endswith("[]") else key
        info = METADATA_PATHS.get(path) or paths.get(path)
        if info is None:
            raise _bad(key, "unknownFilter", "is not a property path of this objecttype")
        typed = tuple(typed_value(raw, info, key) for raw in values)
        if key.endswith("[]") or len(typed) > 1:
            conditions.append(Condition(path, "in", typed, info.scalar_type, key))
        else:
            conditions.append(Condition(path, "eq", typed[0], info.scalar_type, key))
    return ListQuery(tuple(conditions), limit, page)
