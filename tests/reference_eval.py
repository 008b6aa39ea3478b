"""A plain reference interpretation of a `ListQuery`, and the storage backends to check against it.

The reference reads the filter tree exactly as documented (the `Condition`, `Order` and `Search`
docstrings in gateway_core.query, section 5 of the gateway semantics, docs/query-language.md) and
evaluates it on plain records with ordinary Python. It shares no code with any storage backend:
a backend is correct when it returns what `evaluate` returns, ids and order included.

Semantics, as implemented here:
- The values at a path: walk the object key by key; an array met on the way (or at the end) is
  crossed, every element in turn. `null` is no value. An object or array at the end of the path
  is a value for IS NULL / IS NOT NULL only.
- A condition holds when ANY value at its path satisfies it (each condition on its own), except
  `ne` (no value equals) and `is_null` (there is no value), which therefore hold where the path
  is absent.
- Values are read by the condition's `kind`: numbers (not booleans) as numbers, booleans, and for
  `int_compare` / `bool_compare` also text such as "7" / "true"; date-times as instants; strings
  fold case for eq/in/like and for the ordering operators; exact, contains and regex do not.
- Search: the term, case-folded, is contained in some case-folded string value under the object
  (or under one of the search paths).
- Order: by the first value at each order path, read by kind (strings case-folded); objects
  without one come last in either direction; ties keep creation order.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway_core.query import Condition, ListQuery, Order, Search
from gateway_core.schemas.paths import PathInfo, schema_paths
from gateway_core.schemas.registry import build_schema_set, load_object_type
from gateway_core.storage import Put, Store, StoredObject

# -- the reference --------------------------------------------------------------------------------

_METADATA = {
    "id": lambda record: record.id,
    "_self.dateCreated": lambda record: record.created,
    "_self.dateModified": lambda record: record.modified,
}


def values_at(record: StoredObject, path: str) -> list[Any]:
    """Every non-null value at the dotted `path`, crossing arrays."""
    if path in _METADATA:
        return [_METADATA[path](record)]
    return list(_walk(record.data, path.split(".")))


def _walk(node: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for element in node:
            yield from _walk(element, parts)
    elif not parts:
        if node is not None:
            yield node
    elif isinstance(node, dict) and parts[0] in node:
        yield from _walk(node[parts[0]], parts[1:])


def read(value: Any, kind: str) -> Any:
    """`value` as a comparable of `kind`, or None when it cannot be read as one."""
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
        if isinstance(value, str):
            return {"true": True, "1": True, "false": False, "0": False}.get(value.lower())
        return None
    if not isinstance(value, str):
        return None
    if kind == "date-time":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
    if kind == "date":
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return value


def _equal(value: Any, wanted: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str) and value.casefold() == str(wanted).casefold()
    typed = read(value, kind)
    return typed is not None and typed == wanted


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _ordered(value: Any, condition: Condition) -> bool:
    wanted = condition.value
    if condition.kind == "string":
        if not isinstance(value, str):
            return False
        return _COMPARE[condition.operator](value.casefold(), str(wanted).casefold())
    typed = read(value, condition.kind)
    if typed is None or isinstance(typed, datetime) != isinstance(wanted, datetime):
        return False
    return _COMPARE[condition.operator](typed, wanted)


def _matches_one(value: Any, condition: Condition) -> bool:
    """Does this single value satisfy the (positive form of the) condition?"""
    op, wanted, kind = condition.operator, condition.value, condition.kind
    if op in ("eq", "ne"):
        return _equal(value, wanted, kind)
    if op == "exact":
        typed = read(value, kind)
        return typed is not None and typed == wanted
    if op == "in":
        return any(_equal(value, option, kind) for option in wanted)
    if op == "like":
        return isinstance(value, str) and str(wanted).casefold() in value.casefold()
    if op == "contains":
        return isinstance(value, str) and str(wanted) in value
    if op == "regex":
        return isinstance(value, str) and re.search(str(wanted), value) is not None
    if op in _COMPARE:
        return _ordered(value, condition)
    raise AssertionError(f"the reference does not know operator {op!r}")


def holds(condition: Condition, record: StoredObject) -> bool:
    if not isinstance(condition, Condition):
        raise AssertionError(f"the reference evaluates plain conditions only, got {condition!r}")
    values = values_at(record, condition.path)
    if condition.operator == "is_null":
        return not values
    if condition.operator == "is_not_null":
        return bool(values)
    if condition.operator == "ne":
        return not any(_matches_one(value, condition) for value in values)
    scalars = [value for value in values if not isinstance(value, dict | list)]
    return any(_matches_one(value, condition) for value in scalars)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for child in node.values():
            yield from _strings(child)
    elif isinstance(node, list):
        for child in node:
            yield from _strings(child)


def found(search: Search, record: StoredObject) -> bool:
    needle = search.term.casefold()
    if search.paths is None:
        roots: list[Any] = [record.data]
    else:
        roots = [value for path in search.paths for value in values_at(record, path)]
    return any(needle in text.casefold() for root in roots for text in _strings(root))


def sort_key(record: StoredObject, order: Order) -> Any:
    for value in values_at(record, order.path):
        typed = read(value, order.kind)
        if typed is not None:
            return typed.casefold() if isinstance(typed, str) else typed
        return None  # the first value decides, readable or not
    return None


def _compare(
    orders: Sequence[Order], left: tuple[int, StoredObject], right: tuple[int, StoredObject]
) -> int:
    for order in orders:
        a, b = sort_key(left[1], order), sort_key(right[1], order)
        if a is None and b is None:
            continue
        if a is None:
            return 1  # missing values come last, whatever the direction
        if b is None:
            return -1
        if a != b:
            result = -1 if a < b else 1
            return -result if order.descending else result
    return left[0] - right[0]  # ties: creation (insertion) order


def evaluate(records: Sequence[StoredObject], query: ListQuery) -> tuple[list[str], int]:
    """The ids on the requested page, in order, and the total number of matches.

    `records` are in creation order (the order they were written in).
    """
    matching = [
        (index, record)
        for index, record in enumerate(records)
        if all(holds(condition, record) for condition in query.conditions)
        and (query.search is None or found(query.search, record))
    ]
    matching.sort(key=functools.cmp_to_key(functools.partial(_compare, query.order)))
    window = matching[query.offset : query.offset + query.limit]
    return [record.id for _, record in window], len(matching)


_PAIR = re.compile(r"^(?P<key>[^\[=]*(?:\[[^\]]*\])*)=(?P<value>.*)$")


def query_pairs(text: str) -> list[tuple[str, str]]:
    """`a=1&b[>=]=x` as (key, value) pairs, read literally (no URL decoding)."""
    pairs = [_PAIR.match(part) for part in text.split("&") if part]
    return [(pair["key"], pair["value"]) for pair in pairs if pair is not None]


# -- a fixture objecttype for storage-level tests -------------------------------------------------

FIXTURE_COLLECTION = "https://example.org/schemas/query-fixture.schema.json"
_TEXT = {"type": "string"}
_DATE_TIME = {"type": "string", "format": "date-time"}
FIXTURE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": FIXTURE_COLLECTION,
    "title": "QueryFixture",
    "type": "object",
    "properties": {
        "name": _TEXT,
        "code": _TEXT,
        "note": {"type": ["string", "null"]},
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
        "born": _DATE_TIME,
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": _TEXT},
        "address": {
            "type": "object",
            "properties": {
                "city": _TEXT,
                "zip": _TEXT,
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}}},
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": _TEXT,
                    "qty": {"type": "integer"},
                    "price": {"type": ["number", "null"]},
                    "when": _DATE_TIME,
                    "codes": {"type": "array", "items": _TEXT},
                },
            },
        },
    },
}


def fixture_paths() -> dict[str, PathInfo]:
    """The typed paths of FIXTURE_SCHEMA, as the service computes them for the parser."""
    object_type = load_object_type(Path("query-fixture.schema.json"), copy.deepcopy(FIXTURE_SCHEMA))
    return schema_paths(build_schema_set([object_type]), object_type)


def record_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def created_at(index: int) -> str:
    """Creation times increase with the index (so creation order = index order)."""
    return (_EPOCH + timedelta(seconds=index)).isoformat(timespec="microseconds")


_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def make_records(
    documents: Sequence[dict[str, Any]], modified: Sequence[int] | None = None
) -> list[StoredObject]:
    """Records in creation order; `modified[i]` seconds after creation (default 0)."""
    return [
        StoredObject(
            record_id(index),
            created_at(index),
            (_EPOCH + timedelta(seconds=index + (modified[index] if modified else 0))).isoformat(
                timespec="microseconds"
            ),
            copy.deepcopy(data),
        )
        for index, data in enumerate(documents)
    ]


# -- backends under test --------------------------------------------------------------------------

# A backend is added here (and gets its own branch in `store_factory_for`); every test module that
# takes the `store_factory` fixture then runs against it too. "tinydb-indexed" is the embedded
# store with hash indexes declared on every scalar path of FIXTURE_SCHEMA (an index may only
# narrow the candidates, never change a result).
# "postgresql" runs on the test session's throwaway cluster (tests/pg/cluster.py): one database per
# factory, emptied at each use; skipped when PostgreSQL is absent (outside CI).
BACKENDS = ("tinydb", "tinydb-indexed", "postgresql")
INDEXED_PATHS = (
    "name",
    "code",
    "note",
    "age",
    "score",
    "active",
    "born",
    "day",
    "tags",
    "address.city",
    "address.zip",
    "address.geo.lat",
    "items.sku",
    "items.qty",
    "items.price",
    "items.when",
    "items.codes",
)

StoreFactory = Callable[[], contextlib.AbstractAsyncContextManager[Store]]


def store_factory_for(name: str, folder: Path) -> StoreFactory:
    """Opens a fresh, empty store of backend `name` per use (inside the running event loop)."""
    counter = iter(range(1_000_000))

    @contextlib.asynccontextmanager
    async def open_store() -> AsyncIterator[Store]:
        if name in ("tinydb", "tinydb-indexed"):
            from gateway_core.storage.tinydb_backend import TinyDBStore

            indexes = {FIXTURE_COLLECTION: INDEXED_PATHS} if name == "tinydb-indexed" else None
            store: Store = TinyDBStore(folder / f"store-{next(counter)}.json", indexes)
        elif name == "postgresql":
            from pg.cluster import empty_database

            from gateway_core.storage.postgresql import PostgreSQLStore

            store = PostgreSQLStore(empty_database(folder), max_size=2)
        else:  # pragma: no cover - a backend listed in BACKENDS without a branch here
            raise AssertionError(f"no store factory for backend {name!r}")
        try:
            yield store
        finally:
            await store.close()

    return open_store


async def backend_result(
    store: Store, collection: str, records: Sequence[StoredObject], query: ListQuery
) -> tuple[list[str], int]:
    """Write `records` (in order, so creation order = list order) and run `query` on the store."""
    await store.write([Put(collection, record) for record in records])
    return await page_ids(store, collection, query)


async def page_ids(store: Store, collection: str, query: ListQuery) -> tuple[list[str], int]:
    """The ids on the page the store returns for `query`, in order, and its total."""
    page = await store.query(collection, query)
    return [item.id for item in page.items], page.total
