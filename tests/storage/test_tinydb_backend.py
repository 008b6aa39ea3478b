"""The embedded TinyDB store: durability, its file format, the lock and all-or-nothing batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage import Delete, Put, StoredObject, open_store
from gateway_core.storage.tinydb_backend import TinyDBStore

BOOKS = "https://example.org/schemas/book.schema.json"
AUTHORS = "https://example.org/schemas/author.schema.json"
NOW = "2024-05-01T09:30:00.000000+00:00"
LATER = "2024-05-02T10:00:00.000000+00:00"


def with_store(path: Path, scenario: Callable[[TinyDBStore], Awaitable[None]]) -> None:
    """Open the store, run `scenario` on one event loop, close the store."""

    async def main() -> None:
        store = TinyDBStore(path)
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def obj(object_id: str, **data: Any) -> StoredObject:
    return StoredObject(object_id, NOW, NOW, data)


def tinydb_file(path: Path) -> dict[str, Any]:
    """The data file: JSON in TinyDB's format ({table: {doc_id: document}}), readable by TinyDB."""
    content = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(content, dict)
    for table in content.values():
        assert isinstance(table, dict)
        for doc_id, document in table.items():
            assert doc_id.isdigit()
            assert isinstance(document, dict) and {"id", "created", "modified", "data"} <= set(
                document
            )
    with TinyDB(str(path), access_mode="r") as plain:
        assert set(plain.tables()) == set(content)
    return content


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gateway.json"


def test_data_survives_reopen(path: Path) -> None:
    async def write(store: TinyDBStore) -> None:
        await store.write(
            [
                Put(BOOKS, obj("b1", title="A", chapters=[{"title": "x"}])),
                Put(AUTHORS, obj("a1", name="N")),
            ]
        )
        await store.write(
            [
                Put(BOOKS, StoredObject("b1", NOW, LATER, {"title": "B"})),
                Put(BOOKS, obj("b2", title="C")),
            ]
        )
        await store.write([Delete(AUTHORS, "a1")])

    async def read(store: TinyDBStore) -> None:
        assert await store.get(BOOKS, "b1") == StoredObject("b1", NOW, LATER, {"title": "B"})
        assert await store.get(BOOKS, "b2") == obj("b2", title="C")
        assert await store.get(AUTHORS, "a1") is None
        page = await store.query(BOOKS, ListQuery())
        assert [record.id for record in page.items] == ["b1", "b2"]  # creation order
        assert page.total == 2

    with_store(path, write)
    with_store(path, read)
    with_store(path, read)  # reading changes nothing


def test_an_object_another_change_of_the_batch_stores_is_held_once(path: Path) -> None:
    """An audit entry's copy of the object it records: one object in memory, equal values in the
    file and after a reopen, the caller's objects never shared."""
    book = obj("b1", title="A", chapters=[{"title": "x"}])
    entry = obj("e1", action="create", data=book.data, changes=[{"path": "title"}])

    async def write(store: TinyDBStore) -> None:
        await store.write([Put(BOOKS, book), Put(AUTHORS, entry), Delete(AUTHORS, "none")])
        stored_book, stored_entry = await store.get(BOOKS, "b1"), await store.get(AUTHORS, "e1")
        assert stored_book is not None and stored_entry is not None
        assert stored_entry.data["data"] is stored_book.data
        assert stored_book.data is not book.data
        assert stored_entry.data == entry.data and stored_book.data == book.data

    async def read(store: TinyDBStore) -> None:
        assert await store.get(BOOKS, "b1") == book
        assert await store.get(AUTHORS, "e1") == entry

    with_store(path, write)
    with_store(path, read)


def test_the_file_is_tinydb_json_after_each_write(path: Path) -> None:
    async def scenario(store: TinyDBStore) -> None:
        await store.write([Put(BOOKS, obj("b1", title="A"))])
        tinydb_file(path)
        await store.write([Put(BOOKS, obj("b2", title="B")), Put(AUTHORS, obj("a1", name="N"))])
        tinydb_file(path)
        await store.write([Delete(BOOKS, "b1")])
        tinydb_file(path)

    with_store(path, scenario)
    tinydb_file(path)
    with TinyDB(str(path), access_mode="r") as plain:  # after close the file holds everything
        assert [document["id"] for document in plain.table(BOOKS).all()] == ["b2"]
        assert [document["data"] for document in plain.table(AUTHORS).all()] == [{"name": "N"}]


def test_a_second_store_on_the_same_file_is_refused(path: Path) -> None:
    async def scenario(store: TinyDBStore) -> None:
        with pytest.raises(StoreError) as caught:
            TinyDBStore(path)
        message = str(caught.value)
        assert str(path) in message and "in use" in message

    with_store(path, scenario)

    async def nothing(store: TinyDBStore) -> None:
        assert await store.get(BOOKS, "b1") is None

    with_store(path, nothing)  # closing released the lock


def test_a_file_that_is_not_json_is_a_store_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("this is not json", encoding="utf-8")
    for _ in range(2):  # the failed open released its lock: the second error is the same
        with pytest.raises(StoreError) as caught:
            TinyDBStore(path)
        assert "in use" not in str(caught.value)
        assert str(path) in str(caught.value)


def test_a_failing_batch_leaves_nothing_written(path: Path) -> None:
    async def scenario(store: TinyDBStore) -> None:
        await store.write([Put(BOOKS, obj("b0", title="kept"))])
        broken: Any = None  # not a change
        for bad in (broken, Put(BOOKS, obj("b2", tags={"a set is no JSON"}))):
            with pytest.raises(StoreError):
                await store.write([Put(BOOKS, obj("b1", title="A")), Delete(BOOKS, "b0"), bad])
            assert await store.get(BOOKS, "b1") is None
            assert await store.get(BOOKS, "b0") == obj("b0", title="kept")
        await store.write([Put(BOOKS, obj("b3", title="after"))])  # the store still works

    async def reopened(store: TinyDBStore) -> None:
        assert await store.get(BOOKS, "b1") is None
        assert await store.get(BOOKS, "b2") is None
        assert await store.get(BOOKS, "b0") == obj("b0", title="kept")
        assert await store.get(BOOKS, "b3") == obj("b3", title="after")

    with_store(path, scenario)
    with_store(path, reopened)


def test_open_store_picks_tinydb_for_paths_and_refuses_urls(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(str(path))
        try:
            assert isinstance(store, TinyDBStore)
        finally:
            await store.close()

    asyncio.run(scenario())
    with pytest.raises(StoreError, match="mysql"):  # postgresql:// URLs open the PostgreSQL store
        open_store("mysql://localhost/gateway")
