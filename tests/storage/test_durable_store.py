"""The durable embedded store: write-ahead log, group commit, replay, torn lines, compaction.

Costs are asserted structurally (which files a write touches), never by timing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from snapshot_gate import SnapshotGate
from tinydb import TinyDB

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage import Delete, Put, StoredObject
from gateway_core.storage import wal as wal_module
from gateway_core.storage.tinydb_backend import TinyDBStore
from gateway_core.storage.wal import WriteAheadLog, next_log_path

BOOKS = "https://example.org/schemas/book.schema.json"
AUTHORS = "https://example.org/schemas/author.schema.json"
NOW = "2024-05-01T09:30:00.000000+00:00"


def obj(object_id: str, **data: Any) -> StoredObject:
    return StoredObject(object_id, NOW, NOW, data)


def open_store(path: Path, **options: Any) -> TinyDBStore:
    return TinyDBStore(path, gc_tuning=False, **options)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


def abandon(store: TinyDBStore) -> None:
    """Leave the store as a killed process would: no compaction, no close (files as they are)."""
    store._log_thread.shutdown()
    store._snapshot_thread.shutdown()
    store._log.close()
    store._lock.release()


def log_lines(path: Path) -> list[bytes]:
    log = path.with_name(path.name + ".log")
    return log.read_bytes().splitlines() if log.exists() else []


def plain_tinydb(path: Path) -> dict[str, dict[str, Any]]:
    """The data file as plain TinyDB (its default JSON storage) reads it."""
    with TinyDB(str(path), access_mode="r") as db:
        return {
            name: {str(d.doc_id): dict(d) for d in db.table(name).all()} for name in db.tables()
        }


async def ids(store: TinyDBStore, collection: str = BOOKS) -> list[str]:
    page = await store.query(collection, ListQuery(limit=10_000))
    return [record.id for record in page.items]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "gateway.json"


def test_a_write_appends_one_line_and_leaves_the_data_file_alone(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        for number in range(50):
            await store.write([Put(BOOKS, obj(f"b{number}", title=f"T{number}"))])
        before = path.stat()
        lines_before = len(log_lines(path))
        await store.write([Put(BOOKS, obj("b-last", title="last")), Delete(BOOKS, "b3")])
        after = path.stat()
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
            before.st_ino,
            before.st_size,
            before.st_mtime_ns,
        )
        assert len(log_lines(path)) == lines_before + 1
        assert orjson.loads(log_lines(path)[-1]) == [
            [
                "p",
                BOOKS,
                {"id": "b-last", "created": NOW, "modified": NOW, "data": {"title": "last"}},
            ],
            ["d", BOOKS, "b3"],
        ]
        await store.close()

    run(scenario)


def test_the_data_file_is_a_tinydb_file_from_the_start(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        assert plain_tinydb(path) == {}
        await store.close()

    run(scenario)


def test_concurrent_writes_share_one_fsync(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    appends: list[int] = []
    original = WriteAheadLog.append

    def counting(self: WriteAheadLog, data: bytes, records: int) -> None:
        appends.append(records)
        original(self, data, records)

    monkeypatch.setattr(WriteAheadLog, "append", counting)

    async def scenario() -> None:
        store = open_store(path)
        await asyncio.gather(*(store.write([Put(BOOKS, obj(f"b{n}", n=n))]) for n in range(40)))
        assert appends == [40]  # one append + fsync for the 40 writes of one event-loop turn
        assert len(log_lines(path)) == 40  # still one line (one batch) per write
        assert len(await ids(store)) == 40
        await store.close()

    run(scenario)


def test_a_write_is_visible_only_once_acknowledged(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        task = asyncio.ensure_future(store.write([Put(BOOKS, obj("b1", title="A"))]))
        await asyncio.sleep(0)
        assert await store.get(BOOKS, "b1") is None  # queued, not yet fsynced
        await task
        assert await store.get(BOOKS, "b1") == obj("b1", title="A")
        await store.close()

    run(scenario)


def test_replay_after_a_crash_restores_every_acknowledged_write_in_order(path: Path) -> None:
    async def crash() -> None:
        store = open_store(path)
        await store.write([Put(BOOKS, obj("b1", title="A")), Put(AUTHORS, obj("a1", name="N"))])
        await store.write([Put(BOOKS, obj("b2", title="B"))])
        await store.write([Put(BOOKS, StoredObject("b1", NOW, "later", {"title": "A2"}))])
        await store.write([Delete(AUTHORS, "a1"), Put(BOOKS, obj("b3", title="C"))])
        abandon(store)

    async def reopen() -> None:
        assert plain_tinydb(path) == {}  # never compacted: everything is in the log
        store = open_store(path)
        assert await ids(store) == [
            "b1",
            "b2",
            "b3",
        ]  # creation order kept; a replace keeps its place
        assert await store.get(BOOKS, "b1") == StoredObject("b1", NOW, "later", {"title": "A2"})
        assert await store.get(AUTHORS, "a1") is None
        await store.close()
        tables = plain_tinydb(path)
        assert [d["id"] for d in tables[BOOKS].values()] == ["b1", "b2", "b3"]
        assert tables[AUTHORS] == {}

    run(crash)
    run(reopen)


def test_a_torn_last_line_is_dropped_whole_and_cut_off(path: Path) -> None:
    async def crash() -> None:
        store = open_store(path)
        await store.write([Put(BOOKS, obj("b1", title="A"))])
        abandon(store)

    run(crash)
    log = path.with_name(path.name + ".log")
    intact = log.read_bytes()
    torn = orjson.dumps(
        [
            ["p", BOOKS, {"id": "b2", "created": NOW, "modified": NOW, "data": {}}],
            ["d", BOOKS, "b1"],
        ]
    )
    log.write_bytes(intact + torn[: len(torn) // 2])  # the append of a two-change batch, cut short

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == ["b1"]  # neither half of the torn batch
        assert log.read_bytes() == intact  # the torn bytes are gone: later appends start clean
        await store.write([Put(BOOKS, obj("b3", title="C"))])
        abandon(store)
        store = open_store(path)
        assert await ids(store) == ["b1", "b3"]
        await store.close()

    run(reopen)


def test_a_complete_line_without_newline_counts_as_torn(path: Path) -> None:
    log = path.with_name(path.name + ".log")
    path.parent.mkdir(parents=True)
    line = orjson.dumps([["p", BOOKS, {"id": "b1", "created": NOW, "modified": NOW, "data": {}}]])
    log.write_bytes(line + b"\n" + line.replace(b"b1", b"b2"))

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == ["b1"]
        await store.close()

    run(reopen)


def test_damage_before_the_end_of_the_log_is_an_error(path: Path) -> None:
    log = path.with_name(path.name + ".log")
    path.parent.mkdir(parents=True)
    line = orjson.dumps([["p", BOOKS, {"id": "b1", "created": NOW, "modified": NOW, "data": {}}]])
    log.write_bytes(b"{garbage\n" + line + b"\n")
    with pytest.raises(StoreError, match="line 2 of the write-ahead log"):
        open_store(path)
    log.write_bytes(b'{"not": "a batch"}\n')
    with pytest.raises(StoreError, match="not a batch"):
        open_store(path)


def test_compaction_replaces_the_data_file_atomically_and_truncates_the_log(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path, compact_records=10)
        first_inode = path.stat().st_ino
        for number in range(9):
            await store.write([Put(BOOKS, obj(f"b{number}", n=number))])
        assert len(log_lines(path)) == 9 and plain_tinydb(path) == {}
        await store.write([Put(BOOKS, obj("b9", n=9)), Delete(BOOKS, "b0")])  # the 10th batch
        assert store._compaction is not None
        await asyncio.wrap_future(store._compaction)
        assert path.stat().st_ino != first_inode  # a new file renamed over the old one
        tables = plain_tinydb(path)
        assert [d["id"] for d in tables[BOOKS].values()] == [f"b{n}" for n in range(1, 10)]
        assert log_lines(path) == []
        await store.write([Put(BOOKS, obj("b10", n=10))])
        assert len(log_lines(path)) == 1
        abandon(store)

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == [f"b{n}" for n in range(1, 11)]
        await store.close()

    run(scenario)
    run(reopen)
    assert not path.with_name(path.name + ".log").exists()
    assert len(plain_tinydb(path)[BOOKS]) == 10


async def hold_a_compaction(store: TinyDBStore, gate: SnapshotGate, batches: int) -> None:
    """Write books b0, b1, ... in `batches` batches, the last of which begins a compaction (the
    store's `compact_records`), and return once its snapshot process is held at `gate`."""
    for number in range(batches):
        await store.write([Put(BOOKS, obj(f"b{number}", n=number))])
    await gate.wait_started()


def test_writes_go_on_while_a_snapshot_is_written(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SnapshotGate(path.parent)
    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", gate)

    async def scenario() -> None:
        store = open_store(path, compact_records=5)
        await hold_a_compaction(store, gate, 5)
        await store.write([Put(BOOKS, obj("during", n=99)), Delete(BOOKS, "b0")])
        assert await ids(store) == [*(f"b{n}" for n in range(1, 5)), "during"]
        gate.release()
        assert store._compaction is not None
        await asyncio.wrap_future(store._compaction)
        # the snapshot holds the tables as they were when the compaction began
        assert [d["id"] for d in plain_tinydb(path)[BOOKS].values()] == [f"b{n}" for n in range(5)]
        assert [orjson.loads(line)[0][2]["id"] for line in log_lines(path)] == ["during"]
        abandon(store)

    run(scenario)
    monkeypatch.undo()

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == [*(f"b{n}" for n in range(1, 5)), "during"]
        await store.close()

    run(reopen)


def crash_image(path: Path, folder: Path) -> Path:
    """The store's files as a crash at this moment would leave them, copied into `folder`."""
    folder.mkdir()
    log = path.with_name(path.name + ".log")
    for source in (path, log, next_log_path(log)):
        if source.exists():
            shutil.copy2(source, folder / source.name)
    return folder / path.name


def next_log_lines(path: Path) -> list[bytes]:
    return next_log_path(path.with_name(path.name + ".log")).read_bytes().splitlines()


def test_a_crash_at_any_moment_of_a_compaction_loses_nothing(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SnapshotGate(path.parent)
    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", gate)
    images: dict[str, Path] = {}
    adopt = WriteAheadLog.adopt_next

    def adopt_after_an_image(log: WriteAheadLog) -> None:
        images["snapshot landed, second log file not renamed"] = crash_image(path, tmp_path / "b")
        adopt(log)

    monkeypatch.setattr(WriteAheadLog, "adopt_next", adopt_after_an_image)

    async def scenario() -> None:
        store = open_store(path, compact_records=3)
        await hold_a_compaction(store, gate, 3)
        await store.write([Put(BOOKS, obj("during", n=9)), Delete(BOOKS, "b0")])
        assert len(next_log_lines(path)) == 1  # the appends went to the second file
        images["snapshot being written"] = crash_image(path, tmp_path / "a")
        gate.release()
        assert store._compaction is not None
        await asyncio.wrap_future(store._compaction)
        images["compaction done"] = crash_image(path, tmp_path / "c")
        abandon(store)

    run(scenario)
    monkeypatch.undo()
    everything = ["b1", "b2", "during"]

    async def reopen(image: Path, moment: str) -> None:
        store = open_store(image)
        assert await ids(store) == everything, moment
        if moment != "compaction done":  # both log files had lines: one snapshot of all
            assert [d["id"] for d in plain_tinydb(image)[BOOKS].values()] == everything
            assert log_lines(image) == [] and next_log_lines(image) == []
        await store.write([Put(BOOKS, obj("after", n=10))])
        abandon(store)
        store = open_store(image)
        assert await ids(store) == [*everything, "after"], moment
        await store.close()

    for moment, image in images.items():
        run(functools.partial(reopen, image, moment))


def test_a_failed_snapshot_gives_the_second_files_lines_back_to_the_log(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SnapshotGate(path.parent, failure=OSError(28, "No space left on device"))
    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", gate)
    images: dict[str, Path] = {}

    async def scenario() -> None:
        store = open_store(path, compact_records=3)
        await hold_a_compaction(store, gate, 3)
        await store.write([Put(BOOKS, obj("during", n=9))])
        gate.release()
        assert store._compaction is not None
        with pytest.raises(StoreError, match="No space left"):
            await asyncio.wrap_future(store._compaction)
        assert len(log_lines(path)) == 4 and next_log_lines(path) == []
        await store.write([Put(BOOKS, obj("after", n=10))])
        assert len(log_lines(path)) == 5
        images["after"] = crash_image(path, tmp_path / "after")
        abandon(store)

    run(scenario)
    monkeypatch.undo()
    # A crash while the lines were being given back: in the log and still in the second file.
    image = images["after"]
    next_log_path(image.with_name(image.name + ".log")).write_bytes(log_lines(image)[3] + b"\n")

    async def reopen(opened: Path) -> None:
        store = open_store(opened)
        assert await ids(store) == ["b0", "b1", "b2", "during", "after"]
        await store.close()

    for opened in (path, image):
        run(functools.partial(reopen, opened))


def test_a_second_log_file_that_cannot_be_renamed_gives_its_lines_back(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def replace(source: Any, target: Any) -> None:
        if str(source).endswith(".log.next"):
            raise OSError(30, "Read-only file system")
        real_replace(source, target)

    async def scenario() -> None:
        store = open_store(path, compact_records=3)
        monkeypatch.setattr(wal_module.os, "replace", replace)
        for number in range(3):
            await store.write([Put(BOOKS, obj(f"b{number}", n=number))])
        assert store._compaction is not None
        with pytest.raises(OSError, match="Read-only"):
            await asyncio.wrap_future(store._compaction)
        await asyncio.sleep(0)  # the loop learns of the failure
        assert len(log_lines(path)) == 3 and next_log_lines(path) == []
        monkeypatch.undo()
        for number in range(3, 6):  # the next compaction, three batches later, succeeds
            await store.write([Put(BOOKS, obj(f"b{number}", n=number))])
        assert store._compaction is not None
        await asyncio.wrap_future(store._compaction)
        assert log_lines(path) == [] and len(plain_tinydb(path)[BOOKS]) == 6
        abandon(store)

    run(scenario)

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == [f"b{n}" for n in range(6)]
        await store.close()

    run(reopen)


def test_a_crash_after_the_snapshot_landed_replays_the_log_harmlessly(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        await store.write([Put(BOOKS, obj("b1", v=1))])
        await store.write([Put(BOOKS, obj("b2", v=1)), Put(BOOKS, obj("b1", v=2))])
        await store.write([Delete(BOOKS, "b2")])
        wal_module.write_snapshot(
            path, store._tables
        )  # the snapshot landed, the log was not replaced
        abandon(store)

    async def reopen() -> None:
        store = open_store(path)
        assert await ids(store) == ["b1"]
        assert (await store.get(BOOKS, "b1")) == obj("b1", v=2)
        await store.close()

    run(scenario)
    run(reopen)


def test_close_compacts_into_a_file_plain_tinydb_reads(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        await store.write(
            [Put(BOOKS, obj("b1", title="A", tags=["x"])), Put(AUTHORS, obj("a1", name="N"))]
        )
        await store.close()

    run(scenario)
    assert not path.with_name(path.name + ".log").exists()
    assert json.loads(path.read_text()) == {
        BOOKS: {
            "1": {
                "id": "b1",
                "created": NOW,
                "modified": NOW,
                "data": {"title": "A", "tags": ["x"]},
            }
        },
        AUTHORS: {"1": {"id": "a1", "created": NOW, "modified": NOW, "data": {"name": "N"}}},
    }


def test_a_file_written_by_plain_tinydb_opens(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with TinyDB(str(path)) as db:
        db.table(BOOKS).insert(
            {"id": "b1", "created": NOW, "modified": NOW, "data": {"title": "A"}}
        )
        db.table(BOOKS).insert(
            {"id": "b2", "created": NOW, "modified": NOW, "data": {"title": "B"}}
        )

    async def scenario() -> None:
        store = open_store(path)
        assert await ids(store) == ["b1", "b2"]
        await store.write([Put(BOOKS, obj("b3", title="C"))])
        await store.close()

    run(scenario)
    assert [d["id"] for d in plain_tinydb(path)[BOOKS].values()] == ["b1", "b2", "b3"]


def test_a_batch_that_cannot_be_stored_changes_nothing(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        await store.write([Put(BOOKS, obj("b1", title="A"))])
        with pytest.raises(StoreError):
            await store.write([Delete(BOOKS, "b1"), Put(BOOKS, obj("b2", bad={1, 2}))])
        assert await ids(store) == ["b1"]
        assert len(log_lines(path)) == 1
        await store.close()

    run(scenario)


def test_a_failed_append_fails_its_writers_and_changes_nothing(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        store = open_store(path)
        await store.write([Put(BOOKS, obj("b1", title="A"))])
        size = path.with_name(path.name + ".log").stat().st_size
        real_write = os.write

        def full_disk(descriptor: int, data: Any) -> int:
            real_write(descriptor, bytes(data)[:7])  # a partial write, then the disk is full
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(wal_module.os, "write", full_disk)
        with pytest.raises(StoreError, match="No space left"):
            await store.write([Put(BOOKS, obj("b2", title="B")), Delete(BOOKS, "b1")])
        monkeypatch.setattr(wal_module.os, "write", real_write)
        assert path.with_name(path.name + ".log").stat().st_size == size  # cut back
        assert await ids(store) == ["b1"]
        await store.write([Put(BOOKS, obj("b3", title="C"))])  # and the store goes on
        abandon(store)
        store = open_store(path)
        assert await ids(store) == ["b1", "b3"]
        await store.close()

    run(scenario)


def test_stored_documents_do_not_share_the_callers_objects(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        data: dict[str, Any] = {"title": "A", "chapters": [{"title": "x"}]}
        await store.write([Put(BOOKS, obj("b1", **data))])
        data["chapters"][0]["title"] = "changed by the caller"
        stored = await store.get(BOOKS, "b1")
        assert stored is not None and stored.data["chapters"] == [{"title": "x"}]
        await store.close()

    run(scenario)


def test_a_second_store_on_the_same_file_gets_a_clear_error(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        with pytest.raises(StoreError, match="in use by another gateway process"):
            open_store(path)
        await store.close()
        open_store(path)._lock.release()  # free again after close

    run(scenario)


def test_writes_after_close_are_refused(path: Path) -> None:
    async def scenario() -> None:
        store = open_store(path)
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.write([Put(BOOKS, obj("b1"))])

    run(scenario)
