"""The PostgreSQL backend: its value readers agree with the embedded backend's, batches are atomic,
indexes are usable, `gateway migrate` copies both ways, `gateway serve --workers 2` serves.

The query semantics themselves are checked with every other backend by test_query_semantics.py
and the property test (test_query_property.py), against the reference evaluation. These tests run
on the session's throwaway cluster (tests/pg/cluster.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for reference_eval

from conftest import make_client, valid_book
from reference_eval import FIXTURE_COLLECTION, fixture_paths, make_records, query_pairs

from gateway_core.cli import main
from gateway_core.errors import BadRequest, StoreError
from gateway_core.migrate import migrate
from gateway_core.query import ListQuery, parse_list_query
from gateway_core.storage import Delete, Page, Put, StoredObject, open_store
from gateway_core.storage.postgresql import PostgreSQLStore
from gateway_core.storage.postgresql_sql import generation_sequence
from gateway_core.storage.tinydb_backend import TinyDBStore
from gateway_core.storage.tinydb_query import as_kind

PATHS = fixture_paths()


@pytest.fixture
def url(postgresql_cluster: Any) -> Iterator[str]:
    """A fresh database with the gateway's tables."""
    database = postgresql_cluster.borrow_database()
    yield database
    postgresql_cluster.return_database(database)


@pytest.fixture(scope="module")
def connection(postgresql_cluster: Any) -> Iterator[psycopg.Connection[Any]]:
    """A connection to a database where only the reading functions are used."""
    database = postgresql_cluster.fresh_database()
    with psycopg.connect(database, autocommit=True) as connected:
        yield connected
    postgresql_cluster.drop_database(database)


# -- typed readings: PostgreSQL reads stored values as Python (tinydb_query.as_kind) does ----------

TRICKY_TEXT = [
    "7",
    "007",
    "7.0",
    "-7",
    "+7",
    " 7 ",
    "\t7\n",
    "\xa07",
    "7\u2003",
    "\x1c7",
    "1_000",
    "1__0",
    "_1",
    "1_",
    "1e1_0",
    "1.5e+3",
    ".5",
    "5.",
    "+.5e-3",
    "1e",
    "e5",
    "0x10",
    "",
    " ",
    "abc",
    "inf",
    "-INF",
    "+Infinity",
    "infinity ",
    "nan",
    "-nan",
    "1e400",
    "-1e400",
    "1e-400",
    "\u0667",
    "\u0661\u0662.\u0665",
    "\uff11\uff12",
    "1" * 400,
    "0." + "0" * 400 + "1",
    "1e99999999999999999999",
    "9" * 310 + "e-5",
    "true",
    "FALSE",
    "True",
    "1",
    "0",
    "tRuE",
    "yes",
    "fal\u017fe",
    "2024-02-29T12:00:30Z",
    "2024-02-29t12:00:30z",
    "2024-02-29 12:00+0200",
    "2024-02-29T12:00:30.1234567+05:30",
    "2024-02-29T12:00:30.5-01:00",
    "2023-02-29T12:00Z",
    "2024-02-29T24:00Z",
    "2024-02-29T23:60Z",
    "2024-02-29T23:59:60Z",
    "0000-01-01T00:00Z",
    "0001-01-01T02:00+01:00",
    "2024-01-01T10:00+00:60",
    "2024-01-01T10:00+23:59",
    "2024-01-01T10:00+24:00",
    "2024-01-01T10:00:00.Z",
    "2024-01-01T10:00",
    "2024-01-01",
    "2024-01-01T10:00Z\n",
    "\uff12\uff10\uff12\uff14-01-01T10:00Z",
    "20240101",
    "2024-13-01",
    "2024-04-31",
    "2024-02-29junk",
    "1990-05-01T08:00:00+02:00",
    "1111111111",
    "20240101T1",
    "2024-W01-1",
    "2024W011",
    "2024-W01",
    "2024W01",
    "2020-W53-7",
    "2021-W53-1",
    "2024-W00-1",
    "2024-W01-8",
    "2024-W011",
    "2024W01-1",
    "202401",
    "2024-0101",
    "202401-01",
    "9999-W52-5",
]
TRICKY_VALUES: list[Any] = [
    *TRICKY_TEXT,
    7,
    7.5,
    -0.0,
    0,
    1,
    True,
    False,
    None,
    2**53,
    1e300,
    [1],
    {"a": 1},
    # not 10**30: PostgreSQL compares numbers as float8, Python compares big integers exactly
]


def sql_reading(connection: psycopg.Connection[Any], values: list[Any], kind: str) -> list[Any]:
    reader = {
        "number": "gateway_number",
        "boolean": "gateway_boolean",
        "date-time": "gateway_datetime",
        "date": "gateway_date",
    }[kind]
    rows = connection.execute(
        f"SELECT {reader}(value) FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS v(value, n)"
        " ORDER BY n",
        (json.dumps(values),),
    ).fetchall()
    return [row[0] for row in rows]


def python_reading(value: Any, kind: str) -> Any:
    reading = as_kind(value, kind)
    if isinstance(reading, float) and reading != reading:
        return None  # NaN: no number in PostgreSQL (documented)
    return reading


def assert_same_readings(connection: psycopg.Connection[Any], values: list[Any]) -> None:
    for kind in ("number", "boolean", "date-time", "date"):
        for value, got in zip(values, sql_reading(connection, values, kind), strict=True):
            expected = python_reading(value, kind)
            assert got == expected, (kind, value, got, expected)


def test_readers_agree_with_python_on_tricky_values(connection: psycopg.Connection[Any]) -> None:
    assert_same_readings(connection, TRICKY_VALUES)


NUMBERISH = st.text(alphabet="0123456789_.eE+- \t\xa0\u0663infatyINF", max_size=12)
DAYISH = st.builds(
    lambda base, cut, extra: base[:cut] + extra,
    st.sampled_from(["2024-02-29", "20230228", "2026-W53-7", "2020W537", "2024-W01", "0001-W01-1"]),
    st.integers(4, 10),
    st.text(alphabet="0123456789-W", max_size=4),
)
DATEISH = st.builds(
    lambda base, cut, extra: base[:cut] + extra,
    st.sampled_from(["2024-02-29T12:00:30.123456+05:30", "1999-12-31 23:59Z", "2023-02-28t00:00z"]),
    st.integers(0, 32),
    st.text(alphabet="0123456789:+-.TZ ", max_size=4),
)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(NUMBERISH, DATEISH, DAYISH), min_size=1, max_size=30))
def test_readers_agree_with_python_on_generated_text(
    connection: psycopg.Connection[Any], values: list[str]
) -> None:
    assert_same_readings(connection, values)


# -- the store -------------------------------------------------------------------------------------


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def query(params: str = "") -> ListQuery:
    return parse_list_query(query_pairs(params), PATHS, 30, 1000)


def test_open_store_chooses_postgresql_for_a_url(url: str) -> None:
    assert isinstance(open_store(url), PostgreSQLStore)
    assert isinstance(open_store(url.replace("postgresql://", "postgres://")), PostgreSQLStore)


def test_write_get_replace_delete_and_creation_order(url: str) -> None:
    records = make_records([{"name": "a"}, {"name": "b"}, {"name": "c"}])

    async def go() -> tuple[Any, ...]:
        store = PostgreSQLStore(url)
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            changed = StoredObject(
                records[0].id, records[0].created, "2030-01-01T00:00:00Z", {"name": "A!"}
            )
            await store.write(
                [Put(FIXTURE_COLLECTION, changed), Delete(FIXTURE_COLLECTION, records[1].id)]
            )
            page = await store.query(FIXTURE_COLLECTION, query())
            missing = await store.get(FIXTURE_COLLECTION, records[1].id)
            other = await store.get("another-collection", records[0].id)
            return await store.get(FIXTURE_COLLECTION, records[0].id), page, missing, other
        finally:
            await store.close()

    first, page, missing, other = run(go())
    assert first == StoredObject(
        records[0].id, records[0].created, "2030-01-01T00:00:00Z", {"name": "A!"}
    )
    assert [item.data["name"] for item in page.items] == ["A!", "c"] and page.total == 2
    assert missing is None and other is None


def test_a_batch_is_all_or_nothing(url: str) -> None:
    good, bad = make_records([{"name": "kept out"}, {"name": "nul \u0000 is no JSONB text"}])

    async def go() -> int:
        store = PostgreSQLStore(url)
        try:
            with pytest.raises(StoreError):
                await store.write([Put(FIXTURE_COLLECTION, good), Put(FIXTURE_COLLECTION, bad)])
            return (await store.query(FIXTURE_COLLECTION, query())).total
        finally:
            await store.close()

    assert run(go()) == 0


def test_totals_beyond_the_page(url: str) -> None:
    records = make_records([{"age": index} for index in range(7)])

    async def go() -> list[tuple[int, int]]:
        store = PostgreSQLStore(url)
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            pages = [
                query("_limit=3"),
                query("_limit=3&_page=3"),
                query("_limit=3&_page=9"),
                query("age[>=]=2&_limit=2&_page=2"),
            ]
            return [
                (len(page.items), page.total)
                for page in [await store.query(FIXTURE_COLLECTION, q) for q in pages]
            ]
        finally:
            await store.close()

    assert run(go()) == [(3, 7), (1, 7), (0, 7), (2, 5)]


def test_totals_follow_every_write_made_through_any_gateway_process(url: str) -> None:
    """Two stores on one database, as two workers: a total one of them counted and kept is not
    used once the other has written, also a write that leaves the page the same."""
    *records, later = make_records([{"age": index} for index in range(8)])

    async def go() -> list[int]:
        first, second = PostgreSQLStore(url), PostgreSQLStore(url)
        try:
            await first.write([Put(FIXTURE_COLLECTION, record) for record in records])
            totals = [(await first.query(FIXTURE_COLLECTION, query("_limit=3"))).total]
            totals.append((await first.query(FIXTURE_COLLECTION, query("_limit=3"))).total)
            await second.write([Put(FIXTURE_COLLECTION, later)])
            totals.append((await first.query(FIXTURE_COLLECTION, query("_limit=3"))).total)
            await second.write([Delete(FIXTURE_COLLECTION, r.id) for r in records[:2]])
            totals.append((await first.query(FIXTURE_COLLECTION, query("_limit=3"))).total)
            totals.append(
                (await first.query(FIXTURE_COLLECTION, query("age[>=]=2&_limit=2"))).total
            )
            return totals
        finally:
            await first.close()
            await second.close()

    assert run(go()) == [7, 7, 8, 6, 6]


def test_a_change_made_around_the_gateway_shows_in_totals_after_the_kept_ones_age(
    url: str,
) -> None:
    """SQL by hand does not advance the write generation: a kept total may miss it until it is
    `count_max_age` seconds old; the page itself is always read anew."""
    records = make_records([{"age": index} for index in range(7)])

    async def go() -> list[tuple[int, int]]:
        keeping = PostgreSQLStore(url, count_max_age=3600)
        fresh = PostgreSQLStore(url, count_max_age=0)
        try:
            await keeping.write([Put(FIXTURE_COLLECTION, record) for record in records])
            await keeping.query(FIXTURE_COLLECTION, query("_limit=5"))
            await fresh.query(FIXTURE_COLLECTION, query("_limit=5"))
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("DELETE FROM objects WHERE id = %s", (records[0].id,))
            pages = [
                await store.query(FIXTURE_COLLECTION, query("_limit=5"))
                for store in (keeping, fresh)
            ]
            return [(len(page.items), page.total) for page in pages]
        finally:
            await keeping.close()
            await fresh.close()

    assert run(go()) == [(5, 7), (5, 6)]


def counting_statements(monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> list[str]:
    """The count statements the store's connections run (slowed down, so that requests overlap;
    with `fail_first`, the first one is stopped as a statement timeout would stop it)."""
    import asyncpg

    from gateway_core.storage import postgresql

    counts: list[str] = []
    fetchval = asyncpg.Connection.fetchval

    async def spied(self: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
        if statement.startswith("SELECT count(*)"):
            counts.append(statement)
            await asyncio.sleep(0.2)
            if fail_first and len(counts) == 1:
                raise asyncpg.QueryCanceledError("canceling statement due to statement timeout")
        return await fetchval(self, statement, *args, **kwargs)

    monkeypatch.setattr(postgresql._Session, "fetchval", spied)
    return counts


@pytest.mark.parametrize("fail_first", [False, True])
def test_requests_that_need_the_same_count_at_once_wait_for_one(
    url: str, monkeypatch: pytest.MonkeyPatch, fail_first: bool
) -> None:
    records = make_records([{"age": index} for index in range(7)])
    counts = counting_statements(monkeypatch, fail_first)

    async def go() -> list[Any]:
        store = PostgreSQLStore(url)
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            pages = await asyncio.gather(
                *(store.query(FIXTURE_COLLECTION, query("_limit=3")) for _ in range(5)),
                return_exceptions=True,
            )
            return [page.total if isinstance(page, Page) else type(page).__name__ for page in pages]
        finally:
            await store.close()

    totals = run(go())
    if fail_first:  # the one stopped answers 503; the others count for themselves
        assert sorted(totals, key=str) == [7, 7, 7, 7, "ServiceUnavailable"]
        assert len(counts) == 5
    else:
        assert totals == [7, 7, 7, 7, 7] and len(counts) == 1


def test_a_write_to_another_collection_leaves_kept_totals_alone(url: str) -> None:
    """Each collection's writes advance its own generation (unless two names hash alike)."""
    other = "https://example.org/schemas/other.schema.json"
    assert generation_sequence(other) != generation_sequence(FIXTURE_COLLECTION)
    records = make_records([{"age": index} for index in range(7)])
    *_, elsewhere = make_records([{"age": index} for index in range(8)])

    async def go() -> list[int]:
        store = PostgreSQLStore(url, count_max_age=3600)
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            totals = [(await store.query(FIXTURE_COLLECTION, query("_limit=3"))).total]
            with psycopg.connect(url, autocommit=True) as connection:  # around the gateway
                connection.execute("DELETE FROM objects WHERE id = %s", (records[0].id,))
            await store.write([Put(other, elsewhere)])
            totals.append((await store.query(FIXTURE_COLLECTION, query("_limit=3"))).total)
            await store.write([Put(FIXTURE_COLLECTION, records[1])])
            totals.append((await store.query(FIXTURE_COLLECTION, query("_limit=3"))).total)
            return totals
        finally:
            await store.close()

    assert run(go()) == [7, 7, 6]  # kept through the other write; counted after its own


@pytest.mark.parametrize("count_max_age, kept", [(3600, True), (0, False)])
def test_the_count_max_age_setting_decides_how_long_a_total_is_kept(
    tmp_path: Path, url: str, book_schemas: Path, count_max_age: int, kept: bool
) -> None:
    with make_client(tmp_path, [book_schemas], database=url, count_max_age=count_max_age) as client:
        ids = [client.post("/api/book", json=valid_book()).json()["id"] for _ in range(3)]
        assert client.get("/api/book", params={"_limit": 2}).json()["total"] == 3
        with psycopg.connect(url, autocommit=True) as connection:  # around the gateway
            connection.execute("DELETE FROM objects WHERE id = %s", (ids[0],))
        page = client.get("/api/book", params={"_limit": 2}).json()
    assert [item["id"] for item in page["results"]] == ids[1:]
    assert page["total"] == (3 if kept else 2)


def counting_documents(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per JSONB value the store's connections decode (connections opened after)."""
    from gateway_core.storage import postgresql

    decoded: list[int] = []
    decode = postgresql._decode_jsonb

    def spied(data: bytes) -> Any:
        decoded.append(len(data))
        return decode(data)

    monkeypatch.setattr(postgresql, "_decode_jsonb", spied)
    return decoded


def test_a_page_read_again_unchanged_comes_without_its_documents(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = make_records([{"age": index, "name": f"n{index}"} for index in range(6)])
    decoded = counting_documents(monkeypatch)

    async def go() -> tuple[list[Page], list[int]]:
        store = PostgreSQLStore(url)
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            pages, received = [], []
            for params in ["age[>=]=1&_limit=4"] * 3 + ["age[>=]=1&_limit=2"]:
                before = len(decoded)
                pages.append(await store.query(FIXTURE_COLLECTION, query(params)))
                received.append(len(decoded) - before)
            return pages, received
        finally:
            await store.close()

    (first, second, third, other_window), received = run(go())
    assert first == second == third
    assert [item.data for item in first.items] == [record.data for record in records[1:5]]
    # kept from the second time a statement runs (lists asked once keep nothing) and used from
    # the third; another window is another statement, so its documents come again
    assert received == [4, 4, 0, 2]
    assert other_window.items == first.items[:2]


def test_kept_documents_are_not_used_once_any_gateway_process_changed_them(url: str) -> None:
    """Two stores as two workers: a changed object, and one deleted and made again with the same
    id, version and data of another shape, are read anew by the store that kept them."""
    records = make_records([{"age": index} for index in range(4)])
    changed = StoredObject(
        records[1].id, records[1].created, "2030-01-01T00:00:00+00:00", {"age": 41}, None, 2
    )
    remade = StoredObject(
        records[2].id, records[2].created, "2030-01-02T00:00:00+00:00", {"age": 42}, None, 1
    )

    async def go() -> list[list[dict[str, Any]]]:
        reading, writing = PostgreSQLStore(url), PostgreSQLStore(url)
        try:
            await writing.write([Put(FIXTURE_COLLECTION, record) for record in records])
            for _ in range(2):  # the second read keeps the documents
                seen = [[o.data for o in (await reading.query(FIXTURE_COLLECTION, query())).items]]
            await writing.write([Put(FIXTURE_COLLECTION, changed)])
            await writing.write([Delete(FIXTURE_COLLECTION, remade.id)])
            await writing.write([Put(FIXTURE_COLLECTION, remade)])
            seen.append([o.data for o in (await reading.query(FIXTURE_COLLECTION, query())).items])
            return seen
        finally:
            await reading.close()
            await writing.close()

    before, after = run(go())
    assert before == [{"age": 0}, {"age": 1}, {"age": 2}, {"age": 3}]
    assert after == [{"age": 0}, {"age": 41}, {"age": 3}, {"age": 42}]


def test_a_regex_postgresql_cannot_read_is_a_400_naming_the_parameter(url: str) -> None:
    """... and the connection stays in the pool: a refused query costs no new connection."""

    async def backend() -> int:
        async with store._connection() as connection:
            return int(await connection.fetchval("SELECT pg_backend_pid()"))

    async def go() -> tuple[BadRequest, int, int]:
        try:
            await store.write([Put(FIXTURE_COLLECTION, make_records([{"name": "x"}])[0])])
            before = await backend()
            with pytest.raises(BadRequest) as raised:
                await store.query(FIXTURE_COLLECTION, query("name[regex]=(?P<word>x)"))
            return raised.value, before, await backend()
        finally:
            await store.close()

    store = PostgreSQLStore(url, max_size=1)
    refused, before, after = run(go())
    assert [param.name for param in refused.invalid_params] == ["name[regex]"]
    assert before == after


def test_stores_opened_at_once_create_the_schema_once(postgresql_cluster: Any) -> None:
    """Workers starting together on an empty database (no template): the advisory lock."""
    name = f"bare_{os.getpid()}"
    postgresql_cluster.sql("postgres", f"CREATE DATABASE {name} TEMPLATE template0")
    bare = postgresql_cluster.url(name)
    try:

        async def go() -> list[int]:
            stores = [PostgreSQLStore(bare) for _ in range(4)]
            await asyncio.gather(*(store.open() for store in stores))
            totals = [(await s.query(FIXTURE_COLLECTION, query())).total for s in stores]
            for store in stores:
                await store.close()
            return totals

        assert run(go()) == [0, 0, 0, 0]
    finally:
        postgresql_cluster.drop_database(bare)


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = PostgreSQLStore(
        f"postgresql://someone:secret@127.0.0.1:{port}/nothing?connect_timeout=2"
    )

    async def go() -> None:
        try:
            await store.get("x", "y")
        finally:
            await store.close()

    with pytest.raises(StoreError) as raised:
        run(go())
    assert "secret" not in str(raised.value) and "someone:***@" in str(raised.value)


def test_equality_filters_can_use_the_gin_index(url: str) -> None:
    """Every case-insensitive equality (any path, through arrays) is answerable by objects_folded."""
    from gateway_core.storage.postgresql_sql import Compiled, compile_where

    async def plans() -> dict[str, str]:
        store = PostgreSQLStore(url)
        found = {}
        try:
            async with store._connection() as connection:
                await connection.execute("SET enable_seqscan = off")
                for params in (
                    "name=Ann",
                    "items.sku=A-1",
                    "tags[]=red&tags[]=blue",
                    "address.city=X",
                ):
                    sql = Compiled()
                    # without the collection's own condition (the primary key would serve it);
                    # $1 stays as a parameter so that the others keep their numbers
                    where = compile_where(sql, FIXTURE_COLLECTION, query(params)).replace(
                        "o.collection = $1 AND ", "$1::text IS NOT NULL AND "
                    )
                    rows = await connection.fetch(
                        f"EXPLAIN SELECT 1 FROM objects o WHERE {where}", *sql.params
                    )
                    found[params] = "\n".join(row[0] for row in rows)
                await connection.execute("RESET enable_seqscan")
        finally:
            await store.close()
        return found

    for params, plan in run(plans()).items():
        assert "objects_folded" in plan, params


# -- gateway migrate ----------------------------------------------------------------------------------


def seed_tinydb(path: Path) -> list[tuple[str, StoredObject]]:
    objects = [
        (FIXTURE_COLLECTION, record)
        for record in make_records(
            [
                {"name": "Zoë", "tags": ["a"], "score": 7.5},
                {"name": "Ann"},
                {"items": [{"sku": "x"}]},
            ]
        )
    ]
    objects.append(
        (
            "gateway:installed-plugins",
            StoredObject(
                "5a2f5f7e-0000-5000-8000-000000000001",
                "2024-01-01T00:00:00Z",
                "2024-01-02T00:00:00Z",
                {"name": "library", "title": "Library", "withData": True},
            ),
        )
    )

    async def go() -> None:
        store = TinyDBStore(path)
        try:
            await store.write([Put(collection, obj) for collection, obj in objects])
        finally:
            await store.close()

    run(go())
    return objects


def read_back(database: str, collections: list[str]) -> list[tuple[str, StoredObject]]:
    async def go() -> list[tuple[str, StoredObject]]:
        store = open_store(database)
        try:
            found = []
            for collection in collections:
                page = await store.query(collection, ListQuery(limit=1000))
                found += [(collection, obj) for obj in page.items]
            return found
        finally:
            await store.close()

    return run(go())


def test_migrate_tinydb_to_postgresql_and_back(tmp_path: Path, url: str, capsys: Any) -> None:
    objects = seed_tinydb(tmp_path / "before.json")
    collections = [FIXTURE_COLLECTION, "gateway:installed-plugins"]
    assert main(["migrate", "--from", str(tmp_path / "before.json"), "--to", url]) == 0
    output = capsys.readouterr()
    assert "Copied 4 objects in 2 collections." in output.out
    assert "write [##############################] 4/4 (100%)" in output.err
    assert read_back(url, collections) == objects
    assert gin_pending_lists(url) == {"objects_folded": 0, "objects_search": 0}
    assert main(["migrate", "--from", url, "--to", str(tmp_path / "after.json")]) == 0
    assert read_back(str(tmp_path / "after.json"), collections) == objects


def gin_pending_lists(url: str) -> dict[str, int]:
    """Pages in the pending list of each GIN index, or -1 where new entries would go there."""
    with psycopg.connect(url, autocommit=True) as connected:
        connected.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        found = {}
        for name, options in connected.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN "
            "('objects_folded', 'objects_search')"
        ).fetchall():
            row = connected.execute("SELECT pending_pages FROM pgstatginindex(%s)", (name,))
            pending = row.fetchone()
            found[name] = pending[0] if "fastupdate=off" in (options or []) and pending else -1
        return found


def test_writes_leave_no_pending_gin_entries_for_reads_to_scan(url: str) -> None:
    """With GIN's default `fastupdate`, new entries wait in a list that every list query reads
    whole until a vacuum; the store turns it off, so reads stay as fast after many writes."""
    records = make_records([{"name": f"person {n}", "tags": ["a", str(n)]} for n in range(300)])

    async def go() -> None:
        store = PostgreSQLStore(url)
        try:
            for record in records:
                await store.write([Put(FIXTURE_COLLECTION, record)])
        finally:
            await store.close()

    run(go())
    assert gin_pending_lists(url) == {"objects_folded": 0, "objects_search": 0}


def test_migrate_refuses_a_target_that_holds_objects(tmp_path: Path, url: str) -> None:
    seed_tinydb(tmp_path / "source.json")
    seed_tinydb(tmp_path / "full.json")
    assert main(["migrate", "--from", str(tmp_path / "source.json"), "--to", url]) == 0
    with pytest.raises(StoreError, match="already holds objects"):
        run(migrate(str(tmp_path / "source.json"), url))
    with pytest.raises(StoreError, match="already holds objects"):
        run(migrate(url, str(tmp_path / "full.json")))
    assert len(read_back(url, [FIXTURE_COLLECTION])) == 3  # unchanged


def test_migrate_needs_an_existing_source(tmp_path: Path, url: str) -> None:
    assert main(["migrate", "--from", str(tmp_path / "nothing.json"), "--to", url]) == 1


# -- gateway serve --workers ---------------------------------------------------------------------------


def test_workers_are_refused_for_the_tinydb_store(tmp_path: Path, capsys: Any) -> None:
    code = main(["serve", "--workers", "2", "--database", str(tmp_path / "db.json")])
    assert code == 1
    assert "needs a PostgreSQL database" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _request(url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_serve_with_two_workers_on_postgresql(tmp_path: Path, url: str, book_schemas: Path) -> None:
    port = _free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway_core.cli",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--database",
            url,
            "--schemas",
            str(book_schemas),
        ],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _request(f"{base}/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stdout.read() if server.stdout else "") from None
                time.sleep(0.1)
        api = _request(f"{base}/api")
        route = next(t["endpoints"][0] for t in api["objecttypes"] if t["title"] == "Book")
        created = [
            _request(f"{base}{route}", {"title": f"Book {n}", "isbn": f"978903889618{n}"})
            for n in range(6)
        ]
        listed = _request(f"{base}{route}?_order[title]=desc&_limit=100")
        titles = [item["title"] for item in listed["results"]]
        assert titles == [f"Book {n}" for n in reversed(range(6))], listed
        assert all(
            _request(f"{base}{route}/{book['id']}")["title"] == book["title"] for book in created
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_plain_equality_lists_reuse_one_plan_and_others_are_planned_for_their_values(
    url: str,
) -> None:
    """A list of string equalities in creation order runs with a generic plan (planning per
    request cost more than running the query); `_search`, ranges and other orders do not. The
    connection switches back and forth, answering each query right."""
    records = make_records([{"name": "Ann", "score": 3}, {"name": "Bob", "score": 9}])
    asked = [
        ("name=ann", True, ["Ann"]),
        ("name[]=ann&name[]=bob", True, ["Ann", "Bob"]),
        ("_search=bo", False, ["Bob"]),
        ("name=bob", True, ["Bob"]),
        ("score[>]=5", False, ["Bob"]),
        ("name[ne]=ann", False, ["Bob"]),
        ("name=ann&_order[name]=desc", False, ["Ann"]),
    ]

    async def go() -> list[tuple[str, str, list[str]]]:
        store = PostgreSQLStore(url, max_size=1)  # one connection: every query on the same session
        seen = []
        try:
            await store.write([Put(FIXTURE_COLLECTION, record) for record in records])
            for params, _, _ in asked:
                page = await store.query(FIXTURE_COLLECTION, query(params))
                async with store._connection() as connection:
                    mode = await connection.fetchval("SHOW plan_cache_mode")
                seen.append((params, mode, [item.data["name"] for item in page.items]))
        finally:
            await store.close()
        return seen

    for (params, generic, names), seen in zip(asked, run(go()), strict=True):
        assert seen == (params, "force_generic_plan" if generic else "auto", names)
