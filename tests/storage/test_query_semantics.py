"""Query semantics at the storage level, backend by backend, with hand-written expectations.

Every row is parsed by gateway_core.query (so the parser is in the loop), run on a fresh store of
each backend in `BACKENDS`, and checked against the expected labels in order. The same row is also
run through the reference evaluation (tests/reference_eval.py), which keeps that reference honest
for the property test in test_query_property.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for reference_eval

from reference_eval import (
    BACKENDS,
    FIXTURE_COLLECTION,
    StoreFactory,
    backend_result,
    evaluate,
    fixture_paths,
    make_records,
    query_pairs,
    store_factory_for,
)

from gateway_core.query import parse_list_query
from gateway_core.storage import StoredObject

PATHS = fixture_paths()
COLLECTION = FIXTURE_COLLECTION

DOCUMENTS: dict[str, dict[str, Any]] = {
    "ann": {
        "name": "Ann",
        "code": "7",
        "age": 30,
        "score": 7.5,
        "active": True,
        "born": "1990-05-01T10:00:00+02:00",
        "day": "1990-05-01",
        "tags": ["red", "blue"],
        "address": {"city": "Amsterdam", "geo": {"lat": 52.37}},
        "items": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B-2", "qty": 1, "price": 100}],
    },
    "bob": {
        "name": "bob",
        "code": "true",
        "age": 17,
        "score": 12,
        "active": False,
        "born": "1990-05-01T08:00:00Z",
        "tags": ["green"],
        "address": {"city": "Rotterdam"},
        "items": [{"sku": "a-1", "qty": 5, "codes": ["x", "Y"]}],
    },
    "cat": {
        "name": "Cat",
        "score": 7.25,
        "note": None,
        "born": "1985-12-31T23:30:00-01:00",
        "tags": [],
        "items": [{"sku": "B-2", "qty": 2, "when": "2024-03-01T12:00:00+01:00"}],
    },
    "dan": {},
    "eve": {
        "name": "Eve",
        "age": 30,
        "active": True,
        "note": "x",
        "items": [{"sku": "A-1", "qty": 1}, {"sku": "C-3", "qty": 2}],
    },
}
LABELS = list(DOCUMENTS)
RECORDS = make_records(list(DOCUMENTS.values()))
BY_ID = {record.id: label for label, record in zip(LABELS, RECORDS, strict=True)}
ALL = LABELS


def params_of(text: str) -> list[tuple[str, str]]:
    """`a=1&b[op]=x` as (key, value) pairs, literally (no URL decoding); `{id:ann}` and
    `{created:ann}` stand for that record's id and creation time."""
    for label, record in zip(LABELS, RECORDS, strict=True):
        text = text.replace(f"{{id:{label}}}", record.id).replace(
            f"{{created:{label}}}", record.created
        )
    return query_pairs(text)


ROWS: list[tuple[str, list[str]]] = [
    # numbers compare as numbers, not as integers (CG cast to int)
    ("score[>]=7.3", ["ann", "bob"]),
    ("score[<=]=7.25", ["cat"]),
    ("score=12.0", ["bob"]),
    ("age=30", ["ann", "eve"]),
    ("age[int_compare]=30", ["ann", "eve"]),
    # several operators on one key are AND-ed (CG used the first)
    ("age[>=]=18&age[<=]=30", ["ann", "eve"]),
    ("age[>]=17&age[<]=30", []),
    # booleans by type, bool_compare kept
    ("active=false", ["bob"]),
    ("active[bool_compare]=1", ["ann", "eve"]),
    ("active[ne]=true", ["bob", "cat", "dan"]),
    # text read as number / boolean by int_compare / bool_compare
    ("code[int_compare]=7", ["ann"]),
    ("code[bool_compare]=TRUE", ["bob"]),
    # strings: equality case-insensitive, exact case-sensitive
    ("name=ANN", ["ann"]),
    ("name[exact]=Ann", ["ann"]),
    ("name[exact]=ann", []),
    ("name[case_sensitive]=bob", ["bob"]),
    ("name[case_insensitive]=BOB", ["bob"]),
    ("name[like]=A", ["ann", "cat"]),
    ("name[regex]=^[A-Z]", ["ann", "cat", "eve"]),
    ("name=%a%", ["cat"]),
    ("name[>=]=b", ["bob", "cat", "eve"]),  # ordering operators fold case, like sorting
    ("name[<]=BOB", ["ann"]),
    # date-times are instants: the same moment in other time zones is equal
    ("born=1990-05-01T08:00:00+00:00", ["ann", "bob"]),
    ("born=1990-05-01T09:00:00+01:00", ["ann", "bob"]),
    ("born[strictly_before]=1990-05-01T09:59:59+02:00", ["cat"]),
    ("born[before]=1990-05-01T08:00:00Z", ["ann", "bob", "cat"]),
    ("born[strictly_after]=1986-01-01T00:29:59", ["ann", "bob", "cat"]),  # no zone: UTC
    ("born[after]=1986-01-01T01:00", ["ann", "bob"]),
    ("born[after]=1986-01-01", ["ann", "bob", "cat"]),  # a date: midnight UTC
    ("born[>]=1986-01-01", ["ann", "bob", "cat"]),
    ("born[like]=05-01", ["ann", "bob"]),
    ("born=1990%", ["ann", "bob"]),  # `%`: contains, also on date-time text
    ("day[before]=2000-01-01", ["ann"]),
    ("items.when[after]=2024-03-01T11:00:00Z", ["cat"]),
    # ne and IS NULL hold where the value is absent; an empty array has no value
    ("name[ne]=ann", ["bob", "cat", "dan", "eve"]),
    ("tags[ne]=red", ["bob", "cat", "dan", "eve"]),
    ("tags=IS NULL", ["cat", "dan", "eve"]),
    ("tags=is not null", ["ann", "bob"]),
    ("note=IS NULL", ["ann", "bob", "cat", "dan"]),
    ("note=IS NOT NULL", ["eve"]),
    ("address=IS NULL", ["cat", "dan", "eve"]),
    ("items.codes=IS NOT NULL", ["bob"]),
    # one of
    ("name[]=ann&name[]=BOB", ["ann", "bob"]),
    ("age[]=17&age[]=30", ["ann", "bob", "eve"]),
    ("tags[]=blue&tags[]=green", ["ann", "bob"]),
    # through arrays: each condition on its own may match any element
    ("tags=RED", ["ann"]),
    ("items.sku=a-1", ["ann", "bob", "eve"]),
    ("items.sku[exact]=a-1", ["bob"]),
    ("items.codes=y", ["bob"]),
    ("items.sku=A-1&items.qty=1", ["ann", "eve"]),  # ann: A-1 and qty 1 in different elements
    ("items.sku=B-2&items.qty=2", ["ann", "cat"]),
    ("items.qty[>]=4", ["bob"]),
    ("address.geo.lat[>]=52", ["ann"]),
    ("address.city[like]=dam", ["ann", "bob"]),
    # search: literal, case-insensitive, over every string or the named paths
    ("_search=A-1", ["ann", "bob", "eve"]),
    ("_search=a.1", []),
    ("_search[address.city,name]=t", ["ann", "bob", "cat"]),
    ("_search[items.sku]=c-", ["eve"]),
    ("_search=05-01&name=bob", ["bob"]),
    # metadata
    ("id={id:cat}", ["cat"]),
    ("id[]={id:ann}&id[]={id:eve}", ["ann", "eve"]),
    ("_self.dateCreated[strictly_after]={created:bob}", ["cat", "dan", "eve"]),
    ("_self.dateModified[before]={created:ann}", ["ann"]),
    # order: missing values last in both directions, ties in creation order
    ("_order[age]=desc", ["ann", "eve", "bob", "cat", "dan"]),
    ("_order[age]=asc", ["bob", "ann", "eve", "cat", "dan"]),
    ("_order[items.qty]=asc", ["eve", "ann", "cat", "bob", "dan"]),  # by the first element
    ("_order[active]=desc&_order[name]=asc", ["ann", "eve", "bob", "cat", "dan"]),
    ("_order[name]=desc", ["eve", "cat", "bob", "ann", "dan"]),  # case-insensitive
    ("_order[born]=asc", ["cat", "ann", "bob", "dan", "eve"]),  # ann = bob as instants
    ("_order[born]=desc", ["ann", "bob", "cat", "dan", "eve"]),
    ("_order[_self.dateCreated]=desc", ["eve", "dan", "cat", "bob", "ann"]),
    ("_order=-score,name", ["bob", "ann", "cat", "eve", "dan"]),
    # the page window
    ("_limit=2", ["ann", "bob"]),
    ("_limit=2&_page=3", ["eve"]),
    ("_limit=2&_start=1", ["bob", "cat"]),
    ("_offset=4", ["eve"]),
    ("_limit=2&_page=4", []),
]


@pytest.fixture(scope="module", params=BACKENDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreFactory:
    return store_factory_for(request.param, tmp_path_factory.mktemp(f"semantics-{request.param}"))


def run(
    factory: StoreFactory, records: list[StoredObject], params: list[tuple[str, str]]
) -> tuple[list[str], int]:
    query = parse_list_query(params, PATHS, 30, 100)

    async def go() -> tuple[list[str], int]:
        async with factory() as store:
            return await backend_result(store, COLLECTION, records, query)

    return asyncio.run(go())


@pytest.mark.parametrize(("query", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_semantics(store_factory: StoreFactory, query: str, expected: list[str]) -> None:
    params = params_of(query)
    ids, total = run(store_factory, RECORDS, params)
    assert [BY_ID[i] for i in ids] == expected
    reference_ids, reference_total = evaluate(RECORDS, parse_list_query(params, PATHS, 30, 100))
    assert [BY_ID[i] for i in reference_ids] == expected, "the reference evaluation disagrees"
    assert total == reference_total


def test_paging_through_ties_never_skips_or_repeats(store_factory: StoreFactory) -> None:
    """Many equal and missing sort keys: every page of an ordered list lines up with the whole."""
    records = make_records([{"age": index % 3} if index % 4 else {} for index in range(23)])
    whole, total = run(store_factory, records, [("_order[age]", "desc"), ("_limit", "100")])
    assert total == 23 and len(set(whole)) == 23
    paged: list[str] = []
    for page in range(1, 6):
        ids, _ = run(
            store_factory, records, [("_order[age]", "desc"), ("_limit", "5"), ("_page", str(page))]
        )
        paged += ids
    assert paged == whole
    assert (
        whole
        == evaluate(
            records, parse_list_query([("_order[age]", "desc"), ("_limit", "100")], PATHS, 30, 100)
        )[0]
    )


def test_updated_object_keeps_its_creation_place(store_factory: StoreFactory) -> None:
    """Rewriting an object (PUT/PATCH) does not move it to the end of the creation order."""
    records = make_records([{"name": "first"}, {"name": "second"}, {"name": "third"}])
    changed = StoredObject(
        records[0].id, records[0].created, records[2].modified, {"name": "first, changed"}
    )

    async def go() -> list[str]:
        async with store_factory() as store:
            await backend_result(store, COLLECTION, records, parse_list_query([], PATHS, 30, 100))
            await backend_result(store, COLLECTION, [changed], parse_list_query([], PATHS, 30, 100))
            page = await store.query(COLLECTION, parse_list_query([], PATHS, 30, 100))
            return [item.data["name"] for item in page.items]

    assert asyncio.run(go()) == ["first, changed", "second", "third"]
