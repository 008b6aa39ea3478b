"""The embedded backend: TinyDB, one table per schema, in one JSON data file.

`AtomicJSONStorage` keeps TinyDB's file format but never leaves the file half-written: a write goes
to a temporary file that is fsynced and renamed over the data file. A lock file keeps a second
process from opening the same data file. Several changes are written as one (see `batch`).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from tinydb import Query, TinyDB
from tinydb.storages import Storage

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage.base import Change, Delete, Page, Put, StoredObject
from gateway_core.storage.tinydb_query import compile_query, sort_documents


def write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class FileLock:
    """An exclusive, non-blocking lock on `<data file>.lock`, held while the store is open."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._handle = open(self.path, "a+")  # noqa: SIM115 - held open for the store's life
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise StoreError(
                f"{path} is in use by another gateway process (lock {self.path}); "
                "stop that process or choose another --database"
            ) from None

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class AtomicJSONStorage(Storage):  # type: ignore[misc]
    """TinyDB storage holding the data in memory and writing the whole file atomically."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._batch_depth = 0
        self._dirty = False
        self._data = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return {}
        try:
            data = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as error:
            raise StoreError(f"{self.path}: the data file is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise StoreError(f"{self.path}: the data file does not hold TinyDB tables")
        return data

    def read(self) -> dict[str, Any]:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        if self._batch_depth:
            self._dirty = True
        else:
            write_atomically(self.path, orjson.dumps(data))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every write inside becomes one file write at the end; an error restores the file's state."""
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            self._dirty = False
            self._data = self._load()
            raise
        self._batch_depth -= 1
        if not self._batch_depth and self._dirty:
            self._dirty = False
            write_atomically(self.path, orjson.dumps(self._data))

    def close(self) -> None:
        pass


def _record(document: Any) -> StoredObject:
    return StoredObject(
        id=document["id"],
        created=document["created"],
        modified=document["modified"],
        data=copy.deepcopy(document["data"]),
    )


class TinyDBStore:
    """The `Store` on TinyDB. The collection (schema `$id`) is the table name."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(path)
        try:
            self._db = TinyDB(str(path), storage=AtomicJSONStorage)
        except BaseException:
            self._lock.release()
            raise
        self._storage: AtomicJSONStorage = self._db.storage
        self.path = path

    async def get(self, collection: str, object_id: str) -> StoredObject | None:
        document = self._db.table(collection, cache_size=0).get(Query().id == object_id)
        return _record(document) if document is not None else None

    async def write(self, changes: Sequence[Change]) -> None:
        with self._storage.batch():
            for change in changes:
                table = self._db.table(change.collection, cache_size=0)
                if isinstance(change, Put):
                    document = {
                        "id": change.obj.id,
                        "created": change.obj.created,
                        "modified": change.obj.modified,
                        "data": copy.deepcopy(change.obj.data),
                    }
                    table.upsert(document, Query().id == change.obj.id)
                elif isinstance(change, Delete):
                    table.remove(Query().id == change.object_id)

    async def query(self, collection: str, query: ListQuery) -> Page:
        table = self._db.table(collection, cache_size=0)
        condition = compile_query(query)
        found = table.search(condition) if condition is not None else table.all()
        ordered = sort_documents(found, query.order)
        window = ordered[query.offset : query.offset + query.limit]
        return Page([_record(document) for document in window], len(ordered))

    async def close(self) -> None:
        self._db.close()
        self._lock.release()
