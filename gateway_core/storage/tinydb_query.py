"""Compiling a ListQuery into TinyDB queries (filters, search) and sort keys.

Documents are stored as {id, created, modified, data}. A path through an array becomes TinyDB's
`.any()`, so any element may match; an array of scalars at the end of a path matches when any of
its values does. `ne` and `is_null` are negations, so they also hold where the value is absent.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from tinydb import Query
from tinydb.queries import QueryInstance

from gateway_core.linear_regex import compile_linear
from gateway_core.query import Condition, ListQuery, Order, Search
from gateway_core.schemas.formats import parse_date_time

_METADATA = {
    "id": "id",
    "_self.dateCreated": "created",
    "_self.dateModified": "modified",
    "_self.owner": "owner",
    "_self.version": "version",
}
_METADATA_DEFAULTS = {"version": 1}  # keys left out of a stored document when they hold these
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def as_kind(value: Any, kind: str) -> Any:
    """A stored value as a comparable of `kind`, or None when it is not one."""
    if kind == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        return None
    if not isinstance(value, str):
        return None
    if kind == "date-time":
        return parse_date_time(value)
    if kind == "date":
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return value


def _scalar_test(condition: Condition) -> Callable[[Any], bool]:
    op, wanted, kind = condition.operator, condition.value, condition.kind
    if op in ("eq", "ne"):  # ne is compiled as the negation of eq
        if kind == "string":
            folded = str(wanted).casefold()
            return lambda v: isinstance(v, str) and v.casefold() == folded
        return lambda v: (c := as_kind(v, kind)) is not None and c == wanted
    if op == "exact":
        return lambda v: (c := as_kind(v, kind)) is not None and c == wanted
    if op == "in":
        if kind == "string":
            options = {str(w).casefold() for w in wanted}
            return lambda v: isinstance(v, str) and v.casefold() in options
        return lambda v: (c := as_kind(v, kind)) is not None and c in wanted
    if op == "like":
        needle = str(wanted).casefold()
        return lambda v: isinstance(v, str) and needle in v.casefold()
    if op == "contains":
        return lambda v: isinstance(v, str) and str(wanted) in v
    if op == "regex":
        pattern = compile_linear(str(wanted))
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    if op in _ORDERING:
        compare = _ORDERING[op]
        if kind == "string":  # the same collation as sorting (first_value): case-insensitive
            folded = str(wanted).casefold()
            return lambda v: isinstance(v, str) and compare(v.casefold(), folded)
        return lambda v: (c := as_kind(v, kind)) is not None and _safe(compare, c, wanted)
    if op in ("is_null", "is_not_null"):  # is_null is compiled as the negation of is_not_null
        return lambda v: v is not None
    raise ValueError(f"unknown operator {op!r}")


def _safe(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if isinstance(left, datetime) != isinstance(right, datetime):
        return False
    try:
        return compare(left, right)
    except TypeError:
        return False


def _leaf(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """At the end of the path: a scalar, or an array of scalars of which any may match."""
    return lambda value: any(test(v) for v in value) if isinstance(value, list) else test(value)


def _path_query(
    root: Query, parts: list[str], done: str, arrays: tuple[str, ...], test: Callable[[Any], bool]
) -> QueryInstance:
    current = root
    for index, part in enumerate(parts):
        current = current[part]
        prefix = f"{done}.{part}" if done else part
        if prefix in arrays and index < len(parts) - 1:
            nested: QueryInstance = current.any(
                _path_query(Query(), parts[index + 1 :], prefix, arrays, test)
            )
            return nested
        done = prefix
    return current.test(_leaf(test))


@functools.lru_cache(maxsize=2048)
def compile_condition(condition: Condition) -> QueryInstance:
    """Cached: conditions are immutable and so are the TinyDB queries built from them."""
    return _compile_condition(condition)


def _compile_condition(condition: Condition) -> QueryInstance:
    test = _scalar_test(condition)
    if condition.path in _METADATA:
        key = _METADATA[condition.path]
        default = _METADATA_DEFAULTS.get(key)
        positive = QueryInstance(lambda document: test(document.get(key, default)), None)
    else:
        parts = condition.path.split(".")
        positive = _path_query(Query()["data"], parts, "", condition.arrays, test)
    compiled: QueryInstance = ~positive if condition.operator in ("ne", "is_null") else positive
    return compiled


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def _values(value: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(value, list):
        for element in value:
            yield from _values(element, parts)
    elif not parts:
        yield value
    elif isinstance(value, dict) and parts[0] in value:
        yield from _values(value[parts[0]], parts[1:])


METADATA_PATHS = frozenset(_METADATA)  # query paths answered from the record, not from `data`


def values_at(data: Any, parts: list[str]) -> Iterator[Any]:
    """Every value at the dotted path `parts` in `data`, through arrays (for indexes): a superset of
    the values `compile_condition` tests there."""
    return _values(data, parts)


def compile_search(search: Search) -> QueryInstance:
    needle = search.term.casefold()

    def found(data: Any) -> bool:
        if search.paths is None:
            return any(needle in text.casefold() for text in _strings(data))
        return any(
            needle in text.casefold()
            for path in search.paths
            for value in _values(data, path.split("."))
            for text in _strings(value)
        )

    compiled: QueryInstance = Query()["data"].test(found)
    return compiled


def compile_query(query: ListQuery) -> QueryInstance | None:
    parts = [compile_condition(c) for c in query.conditions]
    if query.search is not None:
        parts.append(compile_search(query.search))
    return functools.reduce(operator.and_, parts) if parts else None


def first_value(document: dict[str, Any], order: Order) -> Any:
    if order.path in _METADATA:
        key = _METADATA[order.path]
        raw = document.get(key, _METADATA_DEFAULTS.get(key))
    else:
        values = _values(document.get("data"), order.path.split("."))
        raw = next((value for value in values if value is not None), None)  # null is no value
    value = as_kind(raw, order.kind)
    return value.casefold() if isinstance(value, str) else value


def sort_documents(documents: list[Any], orders: tuple[Order, ...]) -> list[Any]:
    """Creation order (doc_id), then each order key from last to first (stable), missing last."""
    ordered = sorted(documents, key=lambda document: document.doc_id)
    for order in reversed(orders):
        keyed = [(first_value(document, order), document) for document in ordered]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [pair for pair in keyed if pair[0] is None]
        present.sort(key=lambda pair: pair[0], reverse=order.descending)
        ordered = [document for _, document in present + missing]
    return ordered
