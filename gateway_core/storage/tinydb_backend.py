"""The embedded backend: TinyDB tables held in memory, a write-ahead log, TinyDB-format snapshots.

One TinyDB table per schema `$id`. The documents live in memory as `{doc_id: {id, created,
modified, data}}` (`MemoryTable`, a TinyDB `Table` whose writes change one entry in place instead
of TinyDB's whole-table rebuild); every `write` batch is appended as one line to
`<data file>.log` and fsynced before it is acknowledged (group commit: the batches that arrive
while the previous fsync runs share the next one); the log is compacted into the TinyDB data file
by atomic replace when it grows past a threshold and at close (see `wal.py` for the file rules and
docs/storage.md, "Storage design", for the reasons). A lock file keeps a second process out.

Concurrency: the store is used from one event loop. Batches are applied to memory in the loop's
thread, in log order, after their fsync, so readers only ever see acknowledged writes and every
batch whole. Returned `StoredObject.data` is the stored document itself, not a copy: treat it as
read only (copy before changing it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import gc
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.queries import QueryInstance
from tinydb.storages import Storage
from tinydb.table import Document, Table

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage.base import Change, Delete, Page, Put, StoredObject
from gateway_core.storage.idsets import ascending
from gateway_core.storage.indexes import CollectionIndexes
from gateway_core.storage.snapshot_process import SnapshotProcess, start_snapshot
from gateway_core.storage.text_index import TextIndex
from gateway_core.storage.tinydb_plan import plan_query
from gateway_core.storage.tinydb_query import sort_documents
from gateway_core.storage.wal import (
    Replay,
    WriteAheadLog,
    fsync_directory,
    next_log_path,
    read_log,
    read_snapshot,
    remove_temporary_files,
    write_snapshot,
)

log = logging.getLogger("gateway.storage")

COMPACT_RECORDS = 10_000  # compact when the log holds this many batches ...
COMPACT_RECORDS_VARIABLE = "GATEWAY_STORE_COMPACT_RECORDS"  # overrides it (tests, tuning)
COMPACT_BYTES = 64 * 1024 * 1024  # ... or this many bytes
SCAN_SLICE = 5_000  # documents scanned before letting other requests run
TEXT_BUILD_SLICE = 500  # documents added to a search index before letting other requests run
TEXT_BUILD_AT_OPEN = 5_000  # collections up to this size get their search index before open returns
GC_GEN0_THRESHOLD = 5_000  # measured: 700 and 50,000 both lose (see docs/storage.md)


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

    def fileno(self) -> int:
        return self._handle.fileno()

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def tune_gc(collect: bool = True) -> None:
    """Move everything alive now (the loaded documents) out of the collector's sight and make young
    collections rarer: with 100k documents resident a full collection takes ~0.3 s (p99 spikes).
    `collect` first clears the young generations' garbage (skipped on open: loading makes none,
    and all loaded objects are still young, so that collection would cost ~0.4 s at 100k)."""
    if collect:
        gc.collect(1)
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, middle, old)


class LogStorage(Storage):
    """TinyDB storage over the store's in-memory tables: `read` hands out the live tables (no copy,
    no parsing). TinyDB's own write path is closed: changes go through `TinyDBStore.write`."""

    def __init__(self, tables: dict[str, dict[int, Any]]) -> None:
        self.tables = tables

    def read(self) -> dict[str, dict[int, Any]]:  # type: ignore[override]
        return self.tables

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        raise StoreError("the embedded store is written through TinyDBStore.write (logged changes)")

    def close(self) -> None:
        pass


class MemoryTable(Table):
    """A TinyDB table over `{doc_id: document}` in memory (int ids, ascending = creation order).

    Writes change one entry in place (`put`, `delete`) rather than through TinyDB's `_update_table`,
    which copies the whole table on every write. Queries are TinyDB queries, run on every document
    or only on the candidates an index gives."""

    def __init__(self, storage: LogStorage, name: str, **kwargs: Any) -> None:
        super().__init__(storage, name, cache_size=0)
        self.documents: dict[int, Any] = storage.tables.setdefault(name, {})

    def _read_table(self) -> dict[int, Any]:  # type: ignore[override]
        return self.documents

    def _update_table(self, updater: Any) -> None:
        raise StoreError("the embedded store is written through TinyDBStore.write (logged changes)")

    def select(
        self, condition: QueryInstance, doc_ids: Iterable[int] | None = None
    ) -> list[tuple[int, Any]]:
        """(doc_id, document) of the matches, in creation order when `doc_ids` is ascending."""
        documents = self.documents
        if doc_ids is None:
            return [
                (doc_id, document) for doc_id, document in documents.items() if condition(document)
            ]
        found = []
        for doc_id in doc_ids:
            document = documents.get(doc_id)
            if document is not None and condition(document):
                found.append((doc_id, document))
        return found


class _Database(TinyDB):
    table_class = MemoryTable  # type: ignore[assignment]


def searchable(collection: str) -> bool:
    """The gateway's own collections (`gateway:audittrail`, `gateway:outbox`, ...) are never
    searched with `_search`: no text index for them (an audit entry holds a whole object)."""
    return not collection.startswith("gateway:")


def _record(document: Any) -> StoredObject:
    return StoredObject(
        document["id"],
        document["created"],
        document["modified"],
        document["data"],
        document.get("owner"),
        document.get("version", 1),
    )


def _encode(change: Change) -> list[Any]:
    if isinstance(change, Put):
        obj = change.obj
        document: dict[str, Any] = {
            "id": obj.id,
            "created": obj.created,
            "modified": obj.modified,
            "data": obj.data,
        }
        if obj.owner is not None:
            document["owner"] = obj.owner
        if obj.version != 1:
            document["version"] = obj.version
        return ["p", change.collection, document]
    if isinstance(change, Delete):
        return ["d", change.collection, change.object_id]
    raise StoreError(f"not a change: {change!r}")


def _share_stored_objects(changes: Sequence[Change], batch: list[list[Any]]) -> None:
    """Where a change's data holds, as the value of one of its keys, the very object another change
    of the batch stores as its data (an audit entry's copy of the object it records), the parsed
    batch holds it once too. Stored documents are read only, so sharing is safe; it halves the
    memory of an audited write and the objects the cycle collector scans (docs/storage.md)."""
    puts = [
        (change.obj.data, entry[2])
        for change, entry in zip(changes, batch, strict=True)
        if isinstance(change, Put)
    ]
    if len(puts) < 2:
        return
    parsed_data = {id(data): document["data"] for data, document in puts}
    for data, document in puts:
        for key, value in data.items():
            shared = parsed_data.get(id(value))
            if shared is not None:
                document["data"][key] = shared


Pending = tuple[bytes, list[list[Any]], "asyncio.Future[None]"]


class TinyDBStore:
    """The `Store` on TinyDB. The collection (schema `$id`) is the table name.

    `indexes` names, per collection, the dotted paths to keep hash indexes on; more are built for
    paths filtered on often unless `automatic_indexes` is off (see indexes.py)."""

    def __init__(
        self,
        path: Path,
        indexes: Mapping[str, Sequence[str]] | None = None,
        *,
        compact_records: int | None = None,
        compact_bytes: int = COMPACT_BYTES,
        gc_tuning: bool = True,
        automatic_indexes: bool = True,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.log_path = path.with_name(path.name + ".log")
        self.compact_records = compact_records or int(
            os.environ.get(COMPACT_RECORDS_VARIABLE) or COMPACT_RECORDS
        )
        self.compact_bytes = compact_bytes
        self._declared = {name: tuple(paths) for name, paths in (indexes or {}).items()}
        self._automatic_indexes = automatic_indexes
        self._gc_tuning = gc_tuning
        self._generation = 0  # batches applied (the file lock makes this process the only writer)
        self._lock = FileLock(path)
        try:
            self._load(gc_tuning)
        except BaseException:
            self._lock.release()
            raise
        self._queue: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._text_builder: asyncio.Task[None] | None = None
        self._compaction: concurrent.futures.Future[None] | None = None
        self._compact_after = 0  # log records; raised after a failed compaction to retry later
        self._closed = False
        # One thread appends to the log (appends and a failed compaction's fold-back stay in
        # order); another waits for snapshot processes and then renames the log's second file.
        self._log_thread = concurrent.futures.ThreadPoolExecutor(1, "gateway-log")
        self._snapshot_thread = concurrent.futures.ThreadPoolExecutor(1, "gateway-snapshot")

    # -- opening -------------------------------------------------------------------------------

    def _load(self, gc_tuning: bool) -> None:
        collecting = gc.isenabled()
        gc.disable()  # loading creates millions of objects and no garbage: no collections needed
        try:
            self._tables = read_snapshot(self.path)
            self._db = _Database(storage=LogStorage, tables=self._tables)
            self._ids: dict[str, dict[str, int]] = {}
            self._next_ids: dict[str, int] = {}
            for name, documents in self._tables.items():
                self._ids[name] = self._id_map(name, documents)
                self._next_ids[name] = next(reversed(documents), 0) + 1
            self._indexes: dict[str, CollectionIndexes] = {}
            self._texts: dict[str, TextIndex] = {}  # built after the replay
            self._replaying = True
            replay = read_log(self.log_path)
            later = read_log(next_log_path(self.log_path))  # left by a compaction cut short
            for batch in itertools.chain(replay.batches, later.batches):
                self._apply(batch)
            self._replaying = False
            for path, replayed in ((self.log_path, replay), (next_log_path(self.log_path), later)):
                if replayed.torn_size:
                    log.warning(
                        "%s: dropped a torn last line (%d bytes, never acknowledged)",
                        path,
                        replayed.torn_size,
                    )
            if later.batches:
                replay = self._start_from_snapshot()
            self._log = WriteAheadLog.open(self.log_path, replay)
            remove_temporary_files(self.path, self.log_path)  # left by a crash during a compaction
            if not self.path.exists():  # from the start a TinyDB file that other tools can open
                write_snapshot(self.path, self._tables)
            for name in set(self._declared) | set(self._tables):
                self._indexes_of(name).build_all(self._tables.get(name, {}))
            for name, documents in self._tables.items():
                if not searchable(name):
                    continue
                text = self._texts[name] = TextIndex()
                text.begin_build(documents)
                if len(documents) <= TEXT_BUILD_AT_OPEN:
                    text.build_step(documents, len(documents))
        finally:
            if collecting:
                gc.enable()
        if gc_tuning:
            tune_gc(collect=False)

    def _start_from_snapshot(self) -> Replay:
        """After a compaction cut short (both log files hold lines): one snapshot of everything
        replayed, then no log; returns the (empty) replay the log starts from."""
        log.warning(
            "%s: a compaction was cut short; writing the data file again from both log files",
            self.path,
        )
        write_snapshot(self.path, self._tables)
        self.log_path.unlink(missing_ok=True)
        next_log_path(self.log_path).unlink()
        fsync_directory(self.path.parent)
        return Replay()

    def _id_map(self, name: str, documents: Mapping[int, Any]) -> dict[str, int]:
        try:
            return {document["id"]: doc_id for doc_id, document in documents.items()}
        except (KeyError, TypeError):
            raise StoreError(
                f"{self.path}: table {name!r} holds a document without an id"
            ) from None

    def _table(self, name: str) -> MemoryTable:
        table = self._db.table(name)
        assert isinstance(table, MemoryTable)
        return table

    def _indexes_of(self, name: str) -> CollectionIndexes:
        indexes = self._indexes.get(name)
        if indexes is None:
            declared = self._declared.get(name, ())
            indexes = self._indexes[name] = CollectionIndexes(declared, self._automatic_indexes)
        return indexes

    async def open(self) -> None:
        """Start building the search indexes of large collections, in slices between requests
        (`_search` scans until its collection's index is ready). Called at application start-up;
        without it, the first `_search` starts the build."""
        if self._text_builder is None and not all(t.ready for t in self._texts.values()):
            self._text_builder = asyncio.get_running_loop().create_task(self.build_search_indexes())

    async def build_search_indexes(self) -> None:
        """Build every search index still building; returns once all are ready."""
        began = time.perf_counter()
        for name, text in list(self._texts.items()):
            while not text.build_step(self._tables[name], TEXT_BUILD_SLICE):
                await asyncio.sleep(0)
        log.info("search indexes ready after %.1f s", time.perf_counter() - began)
        if self._gc_tuning:
            tune_gc()  # the indexes' containers join the loaded documents out of the collector's sight

    def search_index_ready(self, collection: str) -> bool:
        text = self._texts.get(collection)
        return text is not None and text.ready

    def index_paths(self, collection: str) -> dict[str, bool]:
        """The indexed paths of a collection -> whether the index was built automatically."""
        indexes = self._indexes.get(collection)
        return {p: i.automatic for p, i in indexes.indexes.items()} if indexes else {}

    # -- applying changes (event loop thread, in log order) -------------------------------------

    def _apply(self, batch: list[list[Any]]) -> None:
        self._generation += 1
        for operation, name, payload in batch:
            documents = self._tables.get(name)
            if documents is None:
                documents = self._table(name).documents
                self._ids[name] = {}
                self._next_ids[name] = 1
            ids = self._ids[name]
            indexes = self._indexes.get(name)
            text = self._texts.get(name)
            if text is None and not self._replaying and searchable(name):  # a new collection
                text = self._texts[name] = TextIndex()
            if operation == "p":
                object_id = payload["id"]
                doc_id = ids.get(object_id)
                if doc_id is None:
                    doc_id = self._next_ids[name]
                    self._next_ids[name] = doc_id + 1
                    ids[object_id] = doc_id
                    if text is not None:
                        text.add(doc_id, payload["data"])
                else:
                    old = documents[doc_id]
                    if text is not None:
                        text.replace(doc_id, old["data"], payload["data"])
                    if indexes is not None:
                        indexes.remove(doc_id, old)
                documents[doc_id] = payload
                if indexes is not None:
                    indexes.add(doc_id, payload)
            else:
                doc_id = ids.pop(payload, None)
                if doc_id is not None:
                    old = documents.pop(doc_id)
                    if text is not None:
                        text.remove(doc_id, old["data"])
                    if indexes is not None:
                        indexes.remove(doc_id, old)

    # -- the Store protocol ----------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def ready(self) -> bool:
        return all(text.ready for text in self._texts.values())

    async def get(self, collection: str, object_id: str) -> StoredObject | None:
        ids = self._ids.get(collection)
        doc_id = ids.get(object_id) if ids is not None else None
        if doc_id is None:
            return None
        return _record(self._tables[collection][doc_id])

    async def write(self, changes: Sequence[Change]) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        if self._log.failed:
            raise StoreError(self._log.failed)
        if not changes:
            return
        try:
            line = orjson.dumps([_encode(change) for change in changes]) + b"\n"
        except TypeError as error:
            raise StoreError(f"the change cannot be stored as JSON: {error}") from None
        # The stored documents are parsed back from the logged line: equal to what a replay gives,
        # sharing nothing with the caller's objects (orjson also shares the keys' strings).
        batch = orjson.loads(line)
        _share_stored_objects(changes, batch)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((line, batch, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        """Group commit: append and fsync every queued batch at once, then apply them in order and
        acknowledge them; batches queued meanwhile go together into the next round."""
        loop = asyncio.get_running_loop()
        pending: list[Pending] = []
        try:
            while self._queue:
                pending, self._queue = self._queue, []
                data = b"".join(line for line, _, _ in pending)
                try:
                    await loop.run_in_executor(
                        self._log_thread, self._log.append, data, len(pending)
                    )
                except OSError as error:
                    failure = StoreError(
                        f"the change could not be written to {self.log_path}: {error}"
                    )
                    for _, _, future in pending:
                        if not future.done():
                            future.set_exception(failure)
                    pending = []
                    continue
                for _, batch, future in pending:
                    self._apply(batch)
                    if not future.done():
                        future.set_result(None)
                pending = []
                self._maybe_compact(loop)
        except BaseException as error:
            for _, _, future in pending + self._queue:
                if not future.done():
                    future.set_exception(StoreError(f"the write was interrupted: {error!r}"))
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def query(self, collection: str, query: ListQuery) -> Page:
        documents = self._tables.get(collection)
        if not documents:
            return Page([], 0)
        start, stop = query.offset, query.offset + query.limit
        if not query.conditions and query.search is None:
            if not query.order:
                window = itertools.islice(documents.values(), start, stop)
                return Page([_record(document) for document in window], len(documents))
            return self._ordered_page(list(documents.items()), query)
        indexes = self._indexes_of(collection)
        indexes.note_use(query.conditions, documents)
        text = self._texts.get(collection)
        if query.search is not None and text is not None and not text.ready:
            await self.open()  # starts the build when open() was never called
        plan = plan_query(query, indexes, text)
        if plan.residual is None and plan.ids is not None:
            if query.order:
                matches = [(doc_id, documents[doc_id]) for doc_id in sorted(plan.ids)]
                return self._ordered_page(matches, query)
            page_ids = ascending(plan.ids, documents, stop)[start:]
            return Page([_record(documents[doc_id]) for doc_id in page_ids], len(plan.ids))
        assert plan.residual is not None
        candidates = None if plan.ids is None else ascending(plan.ids, documents, None)
        found = await self._select(collection, plan.residual, candidates)
        if query.order:
            return self._ordered_page(found, query)
        return Page([_record(document) for _, document in found[start:stop]], len(found))

    @staticmethod
    def _ordered_page(found: list[tuple[int, Any]], query: ListQuery) -> Page:
        start, stop = query.offset, query.offset + query.limit
        ordered = sort_documents([Document(d, doc_id) for doc_id, d in found], query.order)
        return Page([_record(document) for document in ordered[start:stop]], len(ordered))

    async def stream(
        self, collection: str, query: ListQuery, chunk: int = 1_000
    ) -> AsyncIterator[StoredObject]:
        """Every match of `query` (its window too), in its order, a chunk at a time with other
        requests let in between: an export of 100k objects never builds them all at once."""
        documents = self._tables.get(collection)
        if not documents:
            return
        if not query.conditions and query.search is None:
            found = list(documents.items())
        else:
            text = self._texts.get(collection)
            if query.search is not None and text is not None and not text.ready:
                await self.open()
            plan = plan_query(query, self._indexes_of(collection), text)
            if plan.residual is None and plan.ids is not None:
                found = [(i, documents[i]) for i in ascending(plan.ids, documents, None)]
            else:
                assert plan.residual is not None
                candidates = None if plan.ids is None else ascending(plan.ids, documents, None)
                found = await self._select(collection, plan.residual, candidates)
        if query.order:
            selected: list[Any] = sort_documents(
                [Document(d, doc_id) for doc_id, d in found], query.order
            )
        else:
            selected = [document for _, document in found]
        window = selected[query.offset : query.offset + query.limit]
        for start in range(0, len(window), chunk):
            for document in window[start : start + chunk]:
                yield _record(document)
            await asyncio.sleep(0)

    async def _select(
        self, collection: str, condition: QueryInstance, doc_ids: list[int] | None
    ) -> list[tuple[int, Any]]:
        """The matches in creation order. A long scan runs in slices of `SCAN_SLICE` documents and
        lets other requests in between (a `_search` over 100k documents takes about a second);
        writes applied meanwhile are seen by the slices not yet scanned."""
        table = self._table(collection)
        if doc_ids is None and len(table.documents) <= SCAN_SLICE:
            return table.select(condition)
        ids = list(table.documents) if doc_ids is None else doc_ids
        found = table.select(condition, ids[:SCAN_SLICE])
        for start in range(SCAN_SLICE, len(ids), SCAN_SLICE):
            await asyncio.sleep(0)
            found += table.select(condition, ids[start : start + SCAN_SLICE])
        return found

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._text_builder is not None:
            self._text_builder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._text_builder
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        loop = asyncio.get_running_loop()
        try:
            if self._compaction is not None:
                with contextlib.suppress(
                    Exception
                ):  # logged by _compacted; the snapshot below redoes it
                    await asyncio.wrap_future(self._compaction)
            if self._log.size:
                await loop.run_in_executor(
                    self._snapshot_thread, write_snapshot, self.path, self._tables
                )
            self._log.close(remove=True)
        finally:
            self._log_thread.shutdown()
            self._snapshot_thread.shutdown()
            self._db.close()
            self._lock.release()

    # -- compaction ------------------------------------------------------------------------------

    def _maybe_compact(self, loop: asyncio.AbstractEventLoop) -> None:
        wal = self._log
        if self._compaction is not None or wal.records < self._compact_after:
            return
        if wal.records < self.compact_records and wal.size < self.compact_bytes:
            return
        if wal.failed or wal.switched:  # the last compaction could not give its lines back
            return
        # Between two flushes: memory holds exactly the log's content, the forked child sees it as
        # it is now, and the appends from now on go to the log's second file.
        try:
            wal.ensure_next()
            process = start_snapshot(self.path, self._tables, keep_open=[self._lock.fileno()])
        except OSError as error:
            self._compact_after = wal.records + self.compact_records
            log.error("compaction of %s could not start (retried later): %s", self.path, error)
            return
        wal.switch()
        future = self._snapshot_thread.submit(self._compact, process)
        self._compaction = future

        def finished(done: concurrent.futures.Future[None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing left to update
                loop.call_soon_threadsafe(self._compacted, done)

        future.add_done_callback(finished)

    def _compact(self, process: SnapshotProcess) -> None:
        try:
            process.wait()
            self._log.adopt_next()  # a rename: the appends to the second file go on meanwhile
        except (StoreError, OSError):
            if self._log.switched:  # the second file was not renamed over the log
                # The log thread takes the second file's lines back between two appends.
                self._log_thread.submit(self._log.fold_back).result()
            raise

    def _compacted(self, future: concurrent.futures.Future[None]) -> None:
        self._compaction = None
        error = future.exception()
        if error is not None:
            self._compact_after = self._log.records + self.compact_records
            log.error("compaction of %s failed (retried later): %s", self.path, error)
        else:
            self._compact_after = 0
            tune_gc()
