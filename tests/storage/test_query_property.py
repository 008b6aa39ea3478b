"""Property: a storage backend answers a list query exactly as the reference evaluation does.

Random documents conforming to the fixture objecttype (tests/reference_eval.py) and random query
strings are drawn; the query string is parsed by gateway_core.query (so parsing is exercised), the
documents are written to a fresh store, and the ids the store returns (order and total included)
must equal what the plain-Python reference returns for the same filter tree.

Values are drawn from small pools so that filters often match, with case variants, equal instants
written in other time zones, text that reads as a number or a boolean, and regex metacharacters.
Every drawn query is valid: a 400 from the parser fails the test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for reference_eval

from reference_eval import (
    BACKENDS,
    FIXTURE_COLLECTION,
    StoreFactory,
    created_at,
    evaluate,
    fixture_paths,
    make_records,
    page_ids,
    record_id,
    store_factory_for,
)

from gateway_core.query import ListQuery, parse_list_query
from gateway_core.storage import Put, StoredObject

PATHS = fixture_paths()
COLLECTION = FIXTURE_COLLECTION
MAX_DOCUMENTS = 10

# -- value pools ----------------------------------------------------------------------------------

NAMES = [
    "Ann",
    "ann",
    "ANNA",
    "bob",
    "Bob.x",
    "Carl (c)",
    "a+b",
    "Straße",
    "STRASSE",
    "Zoë",
    "",
    "7",
]
CODES = ["7", "007", "12", "true", "FALSE", "1", "0", "abc"]
NOTES = ["x", "X", "note"]
CITIES = ["Amsterdam", "amsterdam", "Rotterdam", "Den Haag", "Utrecht"]
ZIPS = ["1011AB", "3011 AA", "1011ab"]
TAGS = ["red", "Red", "blue", "green"]
SKUS = ["A-1", "a-1", "B-2", "C.3", "C-3"]
CODES_IN_ITEMS = ["x", "Y", "[z]"]
INTEGERS = [-5, 0, 1, 17, 18, 30, 65]
NUMBERS = [-3, 0, 0.5, 7.25, 7.5, 12, 12.0, 100.5]
LATITUDES = [51.9, 52.0, 52.37]
DAYS = ["1990-05-01", "2001-01-01", "2024-02-29"]
INSTANTS = [
    datetime(1986, 1, 1, 0, 30, tzinfo=UTC),
    datetime(1990, 5, 1, 8, 0, tzinfo=UTC),
    datetime(2001, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 30, tzinfo=UTC),
]
ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-1)),
    timezone(timedelta(hours=5, minutes=30)),
]


@st.composite
def date_times(draw: st.DrawFn) -> str:
    """An RFC 3339 date-time: one of a few instants, written in one of a few time zones."""
    moment = draw(st.sampled_from(INSTANTS)).astimezone(draw(st.sampled_from(ZONES)))
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


@st.composite
def date_time_filters(draw: st.DrawFn) -> str:
    """A filter value for a date-time: with a zone, without one (UTC), or a plain date."""
    moment = draw(st.sampled_from(INSTANTS)) + timedelta(
        seconds=draw(st.sampled_from([-1, 0, 1, 3600]))
    )
    form = draw(st.sampled_from(["zoned", "naive", "date"]))
    if form == "zoned":
        return moment.astimezone(draw(st.sampled_from(ZONES))).isoformat()
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    return moment.date().isoformat()


def _optional(**properties: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=properties)


ITEMS = _optional(
    sku=st.sampled_from(SKUS),
    qty=st.sampled_from(INTEGERS),
    price=st.one_of(st.none(), st.sampled_from(NUMBERS)),  # null: no value
    when=date_times(),
    codes=st.lists(st.sampled_from(CODES_IN_ITEMS), max_size=2),
)
DOCUMENTS = _optional(
    name=st.sampled_from(NAMES),
    code=st.sampled_from(CODES),
    note=st.one_of(st.none(), st.sampled_from(NOTES)),
    age=st.sampled_from(INTEGERS),
    score=st.sampled_from(NUMBERS),
    active=st.booleans(),
    born=date_times(),
    day=st.sampled_from(DAYS),
    tags=st.lists(st.sampled_from(TAGS), max_size=3),
    address=_optional(
        city=st.sampled_from(CITIES),
        zip=st.sampled_from(ZIPS),
        geo=_optional(lat=st.sampled_from(LATITUDES)),
    ),
    items=st.lists(ITEMS, max_size=3),
)

# -- query pools ----------------------------------------------------------------------------------

STRING_VALUES = {
    "name": NAMES,
    "code": CODES,
    "note": NOTES,
    "tags": TAGS,
    "address.city": CITIES,
    "address.zip": ZIPS,
    "items.sku": SKUS,
    "items.codes": CODES_IN_ITEMS,
}
NUMBER_VALUES = {
    "age": INTEGERS,
    "score": NUMBERS,
    "items.qty": INTEGERS,
    "items.price": NUMBERS,
    "address.geo.lat": LATITUDES,
}
DATE_TIME_PATHS = ["born", "items.when", "_self.dateCreated", "_self.dateModified"]
DATE_PATHS = [*DATE_TIME_PATHS, "day"]
TEXT_PATHS = [*STRING_VALUES, *DATE_PATHS]
ORDERED_PATHS = [*STRING_VALUES, *NUMBER_VALUES, *DATE_PATHS]
SCALAR_PATHS = [*ORDERED_PATHS, "active", "id"]
NULLABLE_PATHS = [
    *STRING_VALUES,
    *NUMBER_VALUES,
    "active",
    "born",
    "day",
    "items.when",
    "address",
    "items",
    "address.geo",
]
SEARCH_PATHS = ["name", "tags", "address", "address.city", "items.sku", "items", "born"]
ORDER_PATHS = [*ORDERED_PATHS, "active", "id", "tags", "items.sku", "items.qty", "items.when"]

DATE_FRAGMENTS = ["05-01", "T08", "+02:00", "Z", "2024", ":30", "-01:00"]
REGEXES = [
    "^A",
    "n$",
    "[0-9]",
    "a.b",
    "(?i)ann",
    "b|C",
    "^$",
    r"\.",
    "ß",
    "T0[0-9]",
    "Z$",
    r"\+0[25]",
]
# Each form picks the paths it applies to; forms are drawn uniformly, so every operator is tried.
FORMS: dict[str, list[str]] = {
    "": SCALAR_PATHS,
    "exact": SCALAR_PATHS,
    "case_sensitive": SCALAR_PATHS,
    "case_insensitive": SCALAR_PATHS,
    "ne": SCALAR_PATHS,
    "[]": SCALAR_PATHS,
    "like": TEXT_PATHS,
    "regex": TEXT_PATHS,
    "%": TEXT_PATHS,
    ">=": ORDERED_PATHS,
    ">": ORDERED_PATHS,
    "<=": ORDERED_PATHS,
    "<": ORDERED_PATHS,
    ">=&<=": ORDERED_PATHS,  # several operators on one key: AND
    "after": DATE_PATHS,
    "strictly_after": DATE_PATHS,
    "before": DATE_PATHS,
    "strictly_before": DATE_PATHS,
    "int_compare": [*NUMBER_VALUES, "code"],
    "bool_compare": ["active", "code"],
    "null": NULLABLE_PATHS,
}


@st.composite
def typed_text(draw: st.DrawFn, path: str) -> str:
    """A filter value that fits the path's type, drawn so that it often equals stored values."""
    if path in STRING_VALUES:
        text = draw(st.sampled_from(STRING_VALUES[path]))
        return draw(st.sampled_from([text, text.upper(), text.lower()]))
    if path in NUMBER_VALUES:
        number = draw(st.sampled_from([*NUMBER_VALUES[path], 7.3, 17.5]))
        return draw(st.sampled_from([str(number), str(float(number))]))
    if path == "active":
        return draw(st.sampled_from(["true", "false", "TRUE", "1", "0"]))
    if path == "id":
        return record_id(draw(st.integers(0, MAX_DOCUMENTS)))
    if path == "day":
        return draw(st.sampled_from([*DAYS, "1999-12-31"]))
    if path.startswith("_self."):
        return created_at(draw(st.integers(-1, MAX_DOCUMENTS + 3)))
    return draw(date_time_filters())


@st.composite
def fragments(draw: st.DrawFn, path: str) -> str:
    """A piece of text for like / % / search: part of a stored value, in some case."""
    if path not in STRING_VALUES:
        return draw(st.sampled_from(DATE_FRAGMENTS))
    text = draw(st.sampled_from(STRING_VALUES[path]))
    start = draw(st.integers(0, len(text)))
    piece = text[start : draw(st.integers(start, len(text)))] or text
    return draw(st.sampled_from([piece, piece.upper(), piece.lower()]))


@st.composite
def filters(draw: st.DrawFn) -> list[tuple[str, str]]:
    form = draw(st.sampled_from(sorted(FORMS)))
    path = draw(st.sampled_from(FORMS[form]))
    if form == "":
        return [(path, draw(typed_text(path)))]
    if form == "[]":
        return [(f"{path}[]", draw(typed_text(path))) for _ in range(draw(st.integers(1, 3)))]
    if form == "like":
        return [(f"{path}[like]", draw(fragments(path)))]
    if form == "regex":
        escaped = re.escape(draw(fragments(path)))
        return [(f"{path}[regex]", draw(st.sampled_from([*REGEXES, escaped, f"^{escaped}"])))]
    if form == "%":
        fragment = draw(fragments(path)).replace("%", "")
        return [(path, draw(st.sampled_from([f"%{fragment}%", f"{fragment}%", f"%{fragment}"])))]
    if form == ">=&<=":
        return [(f"{path}[>=]", draw(typed_text(path))), (f"{path}[<=]", draw(typed_text(path)))]
    if form == "int_compare":
        value = (
            draw(st.sampled_from(["7", "7.0", "12", "1", "0"]))
            if path == "code"
            else draw(typed_text(path))
        )
        return [(f"{path}[int_compare]", value)]
    if form == "bool_compare":
        return [
            (f"{path}[bool_compare]", draw(st.sampled_from(["true", "false", "1", "0", "TRUE"])))
        ]
    if form == "null":
        return [(path, draw(st.sampled_from(["IS NULL", "IS NOT NULL", "is null", "is not null"])))]
    return [(f"{path}[{form}]", draw(typed_text(path)))]


@st.composite
def query_strings(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A valid list query string as (key, value) pairs; reserved parameters and aliases too."""
    params: list[tuple[str, str]] = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 2, 3]))):
        params += draw(filters())
    underscore = draw(st.sampled_from(["_", ""]))
    if draw(st.integers(0, 3)) == 0:
        term = draw(fragments(draw(st.sampled_from([*STRING_VALUES, "born"]))))
        paths = draw(st.lists(st.sampled_from(SEARCH_PATHS), max_size=2, unique=True))
        params.append((f"{underscore}search" + (f"[{','.join(paths)}]" if paths else ""), term))
    for path in draw(st.lists(st.sampled_from(ORDER_PATHS), max_size=3, unique=True)):
        direction = draw(st.sampled_from(["asc", "desc", "DESC"]))
        if draw(st.booleans()):
            params.append((f"{underscore}order[{path}]", direction))
        else:
            params.append(
                (f"{underscore}order", ("-" if direction.lower() == "desc" else "") + path)
            )
    if draw(st.booleans()):
        params.append((f"{underscore}limit", str(draw(st.integers(1, 4)))))
    window = draw(st.sampled_from(["", "page", "start", "offset"]))
    if window == "page":
        params.append((f"{underscore}page", str(draw(st.integers(1, 4)))))
    elif window:
        params.append((f"{underscore}{window}", str(draw(st.integers(0, MAX_DOCUMENTS)))))
    return draw(st.permutations(params))


QUERIES_PER_EXAMPLE = 12  # per set of documents: more queries per (slower) store set-up


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[StoredObject], list[list[tuple[str, str]]]]:
    """Documents (in creation order) and several query strings to run on them."""
    documents = draw(st.lists(DOCUMENTS, min_size=5, max_size=MAX_DOCUMENTS))
    modified = draw(st.lists(st.integers(0, 4), min_size=len(documents), max_size=len(documents)))
    queries = draw(
        st.lists(query_strings(), min_size=QUERIES_PER_EXAMPLE, max_size=QUERIES_PER_EXAMPLE)
    )
    return make_records(documents, modified), queries


# -- the property ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreFactory:
    return store_factory_for(request.param, tmp_path_factory.mktemp(f"property-{request.param}"))


def backend_answers(
    factory: StoreFactory, records: list[StoredObject], queries: list[ListQuery]
) -> list[tuple[list[str], int]]:
    async def go() -> list[tuple[list[str], int]]:
        async with factory() as store:
            await store.write([Put(COLLECTION, record) for record in records])
            return [await page_ids(store, COLLECTION, query) for query in queries]

    return asyncio.run(go())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_backend_agrees_with_reference(
    store_factory: StoreFactory, scenario: tuple[list[StoredObject], list[list[tuple[str, str]]]]
) -> None:
    records, query_strings = scenario
    queries = []
    for params in query_strings:
        query = parse_list_query(params, PATHS, 3, 50)
        # the page asked for, and the whole ordered result (a page window cannot hide a difference)
        queries += [query, dataclasses.replace(query, limit=len(records) + 1, offset=0)]
    answers = backend_answers(store_factory, records, queries)
    for query, answer in zip(queries, answers, strict=True):
        assert answer == evaluate(records, query), query
