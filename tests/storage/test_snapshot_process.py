"""The embedded store's compaction snapshot, written by a forked child process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from snapshot_gate import HOLD_LIMIT, SnapshotGate

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage import Put, StoredObject
from gateway_core.storage.tinydb_backend import TinyDBStore
from gateway_core.storage.wal import write_snapshot

BOOKS = "https://example.org/schemas/book.schema.json"
NOW = "2024-05-01T09:30:00.000000+00:00"


def book(number: int) -> Put:
    return Put(BOOKS, StoredObject(f"b{number}", NOW, NOW, {"n": number, "tags": ["x", "y"]}))


async def book_ids(store: TinyDBStore) -> list[str]:
    page = await store.query(BOOKS, ListQuery(limit=1_000))
    return [stored.id for stored in page.items]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.json"


def test_one_call_per_table_writes_the_file_that_slices_write(tmp_path: Path) -> None:
    tables: dict[str, dict[int, Any]] = {
        BOOKS: {n: {"id": f"b{n}", "data": {"n": n, "tekst": "é\u2028"}} for n in range(1, 8)},
        "empty": {},
        "other": {3: {"id": "o3"}},
    }
    write_snapshot(tmp_path / "sliced.json", tables, slice_size=2)
    write_snapshot(tmp_path / "whole.json", tables, slice_size=None)
    assert (tmp_path / "sliced.json").read_bytes() == (tmp_path / "whole.json").read_bytes()


def test_a_snapshot_that_fails_in_the_child_is_logged_and_made_again_later(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full_disk(target: Path, tables: Any, slice_size: int | None = None) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", full_disk)

    async def scenario() -> None:
        store = TinyDBStore(path, gc_tuning=False, compact_records=3)
        for number in range(3):
            await store.write([book(number)])
        assert store._compaction is not None
        with pytest.raises(StoreError, match="No space left on device"):
            await asyncio.wrap_future(store._compaction)
        await asyncio.sleep(0)  # the loop learns of the failure
        assert store._compaction is None
        assert "No space left on device" in caplog.text
        monkeypatch.undo()
        for number in range(3, 6):  # retried only after another three batches
            await store.write([book(number)])
            assert store._compaction is None or number == 5
        assert store._compaction is not None
        await asyncio.wrap_future(store._compaction)
        assert path.stat().st_size > 0
        assert await book_ids(store) == [f"b{n}" for n in range(6)]
        await store.close()

    with caplog.at_level(logging.ERROR, logger="gateway.storage"):
        asyncio.run(scenario())

    async def reopen() -> None:
        store = TinyDBStore(path, gc_tuning=False)
        assert await book_ids(store) == [f"b{n}" for n in range(6)]
        await store.close()

    asyncio.run(reopen())


def test_the_snapshot_process_keeps_no_connection_of_the_server_open(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = SnapshotGate(path.parent)
    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", gate)
    server_side, client_side = socket.socketpair()

    async def scenario() -> None:
        store = TinyDBStore(path, gc_tuning=False, compact_records=2)
        try:
            await store.write([book(1)])
            await store.write([book(2)])
            await gate.wait_started()
            server_side.close()  # the server ends a connection while the child still runs
            client_side.settimeout(5)
            assert client_side.recv(1) == b""  # the client sees it closed
        finally:
            gate.release()
            client_side.close()
            await store.close()

    asyncio.run(scenario())


def test_a_signal_stops_the_snapshot_process_without_the_servers_handler(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child undoes the handlers it inherited: SIGINT ends it (as a failed compaction) instead
    of running the server's SIGINT handler in the child."""
    gate = SnapshotGate(path.parent)
    monkeypatch.setattr("gateway_core.storage.snapshot_process.write_snapshot", gate)

    async def scenario() -> None:
        assert callable(signal.getsignal(signal.SIGINT))  # the server has a handler of its own
        store = TinyDBStore(path, gc_tuning=False, compact_records=2)
        try:
            await store.write([book(1)])
            await store.write([book(2)])
            await gate.wait_started()
            os.kill(gate.child_pid(), signal.SIGINT)
            assert store._compaction is not None
            with pytest.raises(StoreError, match="killed by signal 2"):
                await asyncio.wrap_future(store._compaction)
            await store.write([book(3)])
        finally:
            gate.release()
            await store.close()

    asyncio.run(scenario())

    async def reopen() -> None:
        store = TinyDBStore(path, gc_tuning=False)
        assert await book_ids(store) == ["b1", "b2", "b3"]
        await store.close()

    asyncio.run(reopen())


KILLED_GATEWAY = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {gate_folder!r})
from snapshot_gate import SnapshotGate
from gateway_core.storage import Put, StoredObject
from gateway_core.storage import snapshot_process
from gateway_core.storage.tinydb_backend import TinyDBStore

path = Path({path!r})
gate = SnapshotGate(path.parent)
snapshot_process.write_snapshot = gate

async def main():
    store = TinyDBStore(path, gc_tuning=False, compact_records=2)
    for n in (1, 2):
        await store.write([Put({books!r}, StoredObject(f"b{{n}}", {now!r}, {now!r}, {{"n": n}}))])
    await gate.wait_started()
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_gateway_leaves_no_snapshot_process_holding_the_store(path: Path) -> None:
    script = KILLED_GATEWAY.format(
        gate_folder=str(Path(__file__).parent), path=str(path), books=BOOKS, now=NOW
    )
    gateway = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert gateway.stdout is not None
        assert gateway.stdout.readline().strip() == "held"
    finally:
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait(timeout=10)
    deadline = time.monotonic() + HOLD_LIMIT / 3
    while True:  # the child is killed with its parent; the store opens as soon as it is gone
        try:
            store = TinyDBStore(path, gc_tuning=False)
            break
        except StoreError:
            assert time.monotonic() < deadline, "a snapshot process still holds the store"
            time.sleep(0.05)

    async def check() -> None:
        assert await book_ids(store) == ["b1", "b2"]  # replayed from the log
        await store.close()

    asyncio.run(check())
