"""Holding a compaction's forked snapshot process until the test lets it go.

The child runs `write_snapshot` as the parent's modules had it at the fork, so a test patches
`snapshot_process.write_snapshot` with a `SnapshotGate`; parent and child talk through two files in
the test's folder (the child closes the descriptors it inherits)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from gateway_core.storage import wal

HOLD_LIMIT = 30.0  # seconds a held child waits at most, so that none outlives a failed test


class SnapshotGate:
    def __init__(self, folder: Path, failure: OSError | None = None) -> None:
        self.started = folder / "snapshot-started"
        self.released = folder / "snapshot-released"
        self.failure = failure  # raised once released, instead of writing the snapshot

    def __call__(self, path: Path, tables: Any, slice_size: int | None = None) -> int:
        announcement = self.started.with_name(self.started.name + ".tmp")
        announcement.write_text(str(os.getpid()))
        announcement.replace(self.started)  # appears with the child's pid in it
        deadline = time.monotonic() + HOLD_LIMIT
        while not self.released.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.failure is not None:
            raise self.failure
        return wal.write_snapshot(path, tables, slice_size)

    async def wait_started(self) -> None:
        deadline = time.monotonic() + HOLD_LIMIT
        while not self.started.exists():
            assert time.monotonic() < deadline, "the snapshot process did not start"
            await asyncio.sleep(0.005)

    def child_pid(self) -> int:
        return int(self.started.read_text())

    def release(self) -> None:
        self.released.touch()
