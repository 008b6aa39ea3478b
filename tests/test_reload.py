"""Live reload of the schema folders (docs/governance.md): a schema dropped into a running gateway
is served within seconds, a broken one is reported while the old set keeps serving, a removed one
goes, and a change that stored objects no longer satisfy is reported, never applied to them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import BOOK_SCHEMA, make_client, valid_book, write_json
from starlette.testclient import TestClient

MAGAZINE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/schemas/magazine.schema.json",
    "title": "Magazine",
    "version": "1.0.0",
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "issue": {"type": "integer"}},
}


def eventually(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


@contextmanager
def watched_folder(
    tmp_path: Path, folder: Path, database: str, caplog: pytest.LogCaptureFixture
) -> Iterator[TestClient]:
    """A gateway serving `folder` (holding the book schema), warnings captured."""
    write_json(folder / "book.schema.json", BOOK_SCHEMA)
    with caplog.at_level(logging.WARNING), make_client(tmp_path, [folder], database=database) as c:
        yield c


def served(client: TestClient, path: str) -> bool:
    return client.get(path).status_code == 200


def test_dropped_broken_and_removed_schemas(
    tmp_path: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "schemas"
    with watched_folder(tmp_path, folder, database, caplog) as client:
        assert client.get("/api/magazine").status_code == 404
        assert client.post("/api/book", json=valid_book()).status_code == 201

        write_json(folder / "magazine.schema.json", MAGAZINE)
        eventually(lambda: served(client, "/api/magazine"), "the dropped schema is served")
        assert client.post("/api/magazine", json={"name": "Opzij", "issue": 3}).status_code == 201
        index = {t["$id"] for t in client.get("/api").json()["objecttypes"]}
        assert MAGAZINE["$id"] in index
        assert "/magazine" in client.get("/api/openapi.json").json()["paths"]

        (folder / "broken.schema.json").write_text(
            '{"$id": "https://example.org/x", "type": ', encoding="utf-8"
        )
        eventually(lambda: "schema reload refused" in caplog.text, "the broken file is reported")
        assert "broken.schema.json" in caplog.text
        assert served(client, "/api/magazine")  # the previous set keeps serving
        assert client.get("/api/book").json()["total"] == 1

        (folder / "broken.schema.json").unlink()
        (folder / "magazine.schema.json").unlink()
        eventually(
            lambda: client.get("/api/magazine").status_code == 404, "the removed schema goes"
        )
        assert "/magazine" not in client.get("/api/openapi.json").json()["paths"]
        assert served(client, "/api/book")


def test_a_change_stored_objects_do_not_satisfy_is_reported_not_applied(
    tmp_path: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "schemas"
    with watched_folder(tmp_path, folder, database, caplog) as client:
        first = client.post("/api/book", json=valid_book()).json()
        client.post("/api/book", json=valid_book(isbn="9780000000001", genre="poetry"))
        stricter: dict[str, Any] = {
            **BOOK_SCHEMA,
            "required": [*BOOK_SCHEMA["required"], "website"],
        }
        write_json(folder / "book.schema.json", stricter)
        eventually(
            lambda: "2 stored object(s) do not satisfy it" in caplog.text, "the count is reported"
        )
        assert client.get(f"/api/book/{first['id']}").status_code == 200  # kept as they are
        assert client.get("/api/book").json()["total"] == 2
        refused = client.post("/api/book", json=valid_book(isbn="9780000000002"))
        assert refused.status_code == 400  # the new schema is in force
        assert refused.json()["invalidParams"][0]["name"] == "website"


def test_no_reload_leaves_the_set_as_started(tmp_path: Path) -> None:
    folder = tmp_path / "schemas"
    write_json(folder / "book.schema.json", BOOK_SCHEMA)
    with make_client(tmp_path, [folder], reload=False) as client:
        write_json(folder / "magazine.schema.json", MAGAZINE)
        time.sleep(1.5)  # several times the debounce of a watching gateway
        assert client.get("/api/magazine").status_code == 404
