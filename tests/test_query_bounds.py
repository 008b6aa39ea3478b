"""Queries that cannot stall the gateway: linear-time regular expressions, long scans that let
other requests in, PostgreSQL's statement timeout, and the raw `n[>=]=5` form of a filter.

The time limits here are liveness bounds, generous on purpose (a hostile pattern took minutes
before RE2; a request waiting behind a scan took as long as the scan), not performance targets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from conftest import BOOK_ID, valid_book
from servers import serving
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings
from gateway_core.query import parse_query_string
from gateway_core.storage.postgresql import PostgreSQLStore

HOSTILE = "^(a+)+$"


def test_raw_operator_keys_keep_their_equals_sign() -> None:
    assert parse_query_string("n[>=]=5&n[<=]=9&title=a=b&x[like]=%25c") == [
        ("n[>=]", "5"),
        ("n[<=]", "9"),
        ("title", "a=b"),
        ("x[like]", "%c"),
    ]
    assert parse_query_string("n%5B%3E%3D%5D=5&empty=&flag") == [
        ("n[>=]", "5"),
        ("empty", ""),
        ("flag", ""),
    ]
    assert parse_query_string("name=caf%C3%A9&raw=caf\xc3\xa9") == [
        ("name", "café"),
        ("raw", "café"),
    ]


@pytest.fixture
def books(book_client: TestClient) -> TestClient:
    for index in range(300):
        title = "a" * 39 + ("b" if index % 2 else "a")
        book = valid_book(title=title, isbn=f"{9780000000000 + index}", pages=index + 1)
        assert book_client.post("/api/book", json=book).status_code == 201
    return book_client


def test_the_raw_range_form_filters_on_both_backends(books: TestClient) -> None:
    raw = books.get("/api/book?pages[>=]=100&pages[<=]=109&_limit=100")
    assert raw.status_code == 200, raw.text
    assert sorted(b["pages"] for b in raw.json()["results"]) == list(range(100, 110))
    encoded = books.get("/api/book?pages%5B%3E%3D%5D=100&pages%5B%3C%3D%5D=109&_limit=100")
    assert encoded.json()["total"] == raw.json()["total"] == 10


def test_a_hostile_regex_answers_at_once(books: TestClient) -> None:
    started = time.monotonic()
    response = books.get("/api/book", params={"title[regex]": HOSTILE, "_limit": 1000})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 150  # the 40-character all-"a" titles
    assert elapsed < 2, f"{elapsed:.2f} s"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "escape"),
        ("(?=a)b", "perl operator"),
        ("a{5000}", "repetition"),
        ("[", "missing ]"),
    ],
)
def test_patterns_that_need_backtracking_are_400(
    book_client: TestClient, pattern: str, why: str
) -> None:
    response = book_client.get("/api/book", params={"title[regex]": pattern})
    assert response.status_code == 400
    problem = response.json()
    assert problem["invalidParams"][0]["name"] == "title[regex]"
    assert why in problem["invalidParams"][0]["reason"]


# -- a long scan does not keep other requests waiting (embedded store, real server) --------------


def _write_books(path: Path, count: int) -> None:
    """A TinyDB data file of `count` books with long titles: a regex filter has to scan them all."""
    documents = {}
    for number in range(1, count + 1):
        book = valid_book(title=("x" * 45) + str(number), isbn=f"{9780000000000 + number}")
        object_id = f"00000000-0000-4000-8000-{number:012d}"
        documents[str(number)] = {
            "id": object_id,
            "created": "2026-01-01T00:00:00+00:00",
            "modified": "2026-01-01T00:00:00+00:00",
            "data": book,
        }
    path.write_bytes(orjson.dumps({BOOK_ID: documents}))


@pytest.fixture
def live_server(tmp_path: Path, book_schemas: Path) -> Iterator[str]:
    database = tmp_path / "books.json"
    _write_books(database, 60_000)
    settings = Settings(database=str(database), schemas=(str(book_schemas),))
    app = create_app(settings, load_gateway(settings, plugins=[]))
    with serving(app) as url:
        yield url


def test_health_stays_fast_during_long_scans(live_server: str) -> None:
    scan = {"title[regex]": "9999$", "_limit": "5"}

    def run_scan() -> float:
        started = time.monotonic()
        response = httpx.get(f"{live_server}/api/book", params=scan, timeout=120)
        assert response.status_code == 200
        assert response.json()["total"] == 6  # 9999, 19999, ..., 59999
        return time.monotonic() - started

    with ThreadPoolExecutor(3) as pool:
        scans = [pool.submit(run_scan) for _ in range(3)]
        health: list[float] = []
        with httpx.Client(base_url=live_server, timeout=30) as client:
            while not all(s.done() for s in scans):
                started = time.monotonic()
                assert client.get("/health").status_code == 200
                health.append(time.monotonic() - started)
                time.sleep(0.02)
        durations = [s.result() for s in scans]
    assert len(health) >= 5, "the scans ended before /health was measured"
    # Relative, so that a busy machine does not decide: had /health waited behind the scans, it
    # would have taken about as long as one of them (three ran, one after another in slices).
    worst = max(health)
    assert worst < max(durations) / 3, (
        f"/health took {worst:.2f} s while scans of {max(durations):.2f} s ran"
    )


# -- PostgreSQL: every statement is bounded -------------------------------------------------------


def test_postgresql_statements_run_under_the_query_timeout(postgresql_cluster: Any) -> None:
    url = postgresql_cluster.borrow_database()

    async def run() -> tuple[str, str]:
        store = PostgreSQLStore(url, query_timeout=1)
        try:
            async with store._connection() as connection:
                shown = await connection.fetchval("SHOW statement_timeout")
                try:
                    await connection.execute("SELECT pg_sleep(5)")
                    outcome = "finished"
                except Exception as error:  # asyncpg's QueryCanceledError
                    outcome = type(error).__name__
            return str(shown), outcome
        finally:
            await store.close()

    try:
        started = time.monotonic()
        shown, outcome = asyncio.run(run())
        assert shown == "1s"
        assert outcome == "QueryCanceledError"
        assert time.monotonic() - started < 4
    finally:
        postgresql_cluster.return_database(url)
