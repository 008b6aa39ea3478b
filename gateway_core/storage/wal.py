"""The files of the embedded store: the TinyDB data file (snapshot) and its write-ahead log.

- The data file keeps TinyDB's format, `{"<table>": {"<doc_id>": {...}}}`, and is only ever
  replaced whole and atomically (`write_snapshot`: temporary file, fsync, rename, fsync of the
  folder), so it is always a complete snapshot that plain `tinydb.TinyDB(path)` can read.
- The log `<data file>.log` holds the changes made since that snapshot: one JSON line per
  `Store.write` batch, `[["p", table, document], ["d", table, object_id], ...]`, appended and
  fsynced before the write is acknowledged. A line counts only when it is complete (valid JSON
  ending in a newline); a torn last line (a crash in the middle of an append, never acknowledged)
  is dropped whole on open, so a batch is all-or-nothing across crashes too.
- Compaction sends the appends to a second file, `<data file>.log.next` (created beforehand),
  writes a snapshot of what the log holds, and then renames the second file over the log. A
  crash before that rename leaves a log whose lines may already be in the snapshot, followed by
  the second file: replaying both, in that order, is harmless, every change is an upsert or a
  delete by object id. The open then writes a snapshot and starts with one empty log.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from gateway_core.errors import StoreError

SNAPSHOT_CHUNK = 2_000  # documents serialised per orjson call (lets other threads run between)
# A snapshot is flushed to disk each time this much more of it is written, so that the log's fsyncs
# never wait behind the writeback of a whole snapshot (Redis's rdb-save-incremental-fsync).
SNAPSHOT_SYNC_BYTES = 4 * 1024 * 1024


def fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def remove_temporary_files(*paths: Path) -> None:
    for path in paths:
        _temporary(path).unlink(missing_ok=True)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """Write a file's new content to a temporary file, then fsync it and rename it over `path`."""
    temporary = _temporary(path)
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_directory(path.parent)


def write_snapshot(
    path: Path, tables: Mapping[str, Mapping[int, Any]], slice_size: int | None = SNAPSHOT_CHUNK
) -> int:
    """Write `tables` ({table: {doc_id: document}}, read only) as a TinyDB data file, atomically.

    Serialised in slices of `slice_size` documents straight to the temporary file: no second copy
    of the whole database in memory, and the interpreter lock is released between slices. With
    `slice_size` None each table is one orjson call, which reads the documents without changing
    their reference counts (for a forked child: snapshot_process.py). Returns the size written."""
    size = synced = 0
    with _replacing(path) as handle:

        def put(data: bytes) -> None:
            nonlocal size, synced
            view = memoryview(data)
            for start in range(0, len(view), SNAPSHOT_SYNC_BYTES):
                piece = view[start : start + SNAPSHOT_SYNC_BYTES]
                handle.write(piece)
                size += len(piece)
                if size - synced >= SNAPSHOT_SYNC_BYTES:
                    handle.flush()
                    os.fdatasync(handle.fileno())
                    synced = size

        put(b"{")
        for table_number, (name, documents) in enumerate(tables.items()):
            put(b"," if table_number else b"")
            put(orjson.dumps(name) + b":")
            if slice_size is None:
                put(orjson.dumps(documents, option=orjson.OPT_NON_STR_KEYS))
                continue
            put(b"{")
            items = iter(documents.items())
            first = True
            while chunk := dict(itertools.islice(items, slice_size)):
                encoded = orjson.dumps(chunk, option=orjson.OPT_NON_STR_KEYS)
                put((b"" if first else b",") + encoded[1:-1])
                first = False
            put(b"}")
        put(b"}")
    return size


def read_snapshot(path: Path) -> dict[str, dict[int, Any]]:
    """The tables of a TinyDB data file, documents keyed by int id in ascending order."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise StoreError(f"{path}: the data file is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise StoreError(f"{path}: the data file does not hold TinyDB tables")
    tables: dict[str, dict[int, Any]] = {}
    for name, documents in data.items():
        try:
            keyed = {int(doc_id): document for doc_id, document in documents.items()}
        except ValueError:
            raise StoreError(
                f"{path}: table {name!r} has a document id that is not a number"
            ) from None
        if any(later <= earlier for earlier, later in itertools.pairwise(keyed)):
            keyed = dict(sorted(keyed.items()))
        tables[name] = keyed
    return tables


def _valid_batch(batch: Any) -> bool:
    return isinstance(batch, list) and all(
        isinstance(op, list)
        and len(op) == 3
        and isinstance(op[1], str)
        and (
            (op[0] == "p" and isinstance(op[2], dict) and isinstance(op[2].get("id"), str))
            or (op[0] == "d" and isinstance(op[2], str))
        )
        for op in batch
    )


@dataclass
class Replay:
    batches: list[list[list[Any]]] = field(default_factory=list)
    valid_size: int = 0  # bytes of complete, valid lines
    torn_size: int = 0  # bytes dropped after them


def read_log(path: Path) -> Replay:
    """The batches of a log. A line that is incomplete or not JSON ends the log when nothing valid
    follows it (a torn append); anything else that is not a batch is corruption: StoreError."""
    replay = Replay()
    if not path.exists():
        return replay
    content = path.read_bytes()
    position, number = 0, 0
    torn_at: int | None = None
    while position < len(content):
        start, end = position, content.find(b"\n", position)
        number += 1
        if end < 0:  # no newline: an append cut short
            torn_at = start if torn_at is None else torn_at
            break
        position = end + 1
        try:
            batch = orjson.loads(content[start:end])
        except orjson.JSONDecodeError:
            torn_at = start if torn_at is None else torn_at
            continue
        if torn_at is not None or not _valid_batch(batch):
            problem = (
                "follows an unreadable line" if torn_at is not None else "is not a batch of changes"
            )
            raise StoreError(
                f"{path}: line {number} of the write-ahead log {problem}: the log is damaged. "
                "Move it aside to open the data file as of its last compaction."
            )
        replay.batches.append(batch)
    replay.valid_size = torn_at if torn_at is not None else len(content)
    replay.torn_size = len(content) - replay.valid_size
    return replay


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def next_log_path(path: Path) -> Path:
    """The second log file: appends go there while a compaction writes its snapshot."""
    return path.with_name(path.name + ".next")


class WriteAheadLog:
    """Appends (each fsynced) to `<data file>.log`; used from one thread at a time, apart from
    `adopt_next`, which a compaction's thread runs while appends go on.

    A compaction switches the appends to `<data file>.log.next`, created beforehand (so that the
    switch does no I/O); once the snapshot has landed, that file is renamed over the log, which
    only held what the snapshot holds. If the snapshot fails, `fold_back` appends the second file's
    lines to the log and empties it again."""

    def __init__(self, path: Path, size: int, records: int) -> None:
        self.path = path
        self.next_path = next_log_path(path)
        self.size = size
        self.records = records
        self._descriptor = self._open(path)
        self._next: int | None = None  # the created, empty `.log.next`
        self._retired: tuple[int, int, int] | None = None  # the log's descriptor, size, records
        self.failed: str | None = None  # set when a failed fsync leaves the log's state unknown

    @staticmethod
    def _open(path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    @classmethod
    def open(cls, path: Path, replay: Replay) -> WriteAheadLog:
        """The log as replayed, without a torn last line, and its second file created (empty)."""
        log = cls(path, replay.valid_size, len(replay.batches))
        if replay.torn_size:
            os.ftruncate(log._descriptor, replay.valid_size)
            os.fsync(log._descriptor)
        log.prepare_next()  # its folder fsync makes a new log's name durable too
        return log

    def prepare_next(self) -> None:
        """Create `.log.next` empty and make its name durable, ready for the next `switch`."""
        descriptor = os.open(
            self.next_path,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC,
            0o644,
        )
        try:
            os.fsync(descriptor)
            fsync_directory(self.path.parent)
        except OSError:
            os.close(descriptor)
            raise
        self._next = descriptor

    def ensure_next(self) -> None:
        """`prepare_next` unless `.log.next` is ready (it is, unless creating it failed before)."""
        if self._next is None and self._retired is None:
            self.prepare_next()

    @property
    def switched(self) -> bool:
        """Appends go to `.log.next` (a compaction has begun and not yet ended)."""
        return self._retired is not None

    def switch(self) -> None:
        """Send the appends from now on to `.log.next` (no append may be under way)."""
        if self._next is None or self._retired is not None:
            raise StoreError(f"{self.path}: the log cannot switch files now")
        self._retired = (self._descriptor, self.size, self.records)
        self._descriptor, self._next = self._next, None
        self.size = self.records = 0

    def adopt_next(self) -> None:
        """After the snapshot that holds everything the log held has landed: rename `.log.next`
        over the log (appends go on into it) and create the next `.log.next`."""
        if self._retired is None:
            raise StoreError(f"{self.path}: no switched log to adopt")
        os.replace(self.next_path, self.path)
        retired, self._retired = self._retired[0], None
        os.close(retired)
        fsync_directory(self.path.parent)
        self.prepare_next()

    def fold_back(self) -> None:
        """After a failed snapshot (no append may be under way): append the lines of `.log.next`
        to the log, append to the log again, and empty `.log.next` for the next switch. A crash in
        between leaves lines in both files, which the next open replays twice, in order: harmless,
        every change is an upsert or a delete by object id."""
        if self._retired is None:
            raise StoreError(f"{self.path}: no switched log to fold back")
        retired, size, records = self._retired
        content = self.next_path.read_bytes()[: self.size]
        try:
            _write_all(retired, content)
            os.fdatasync(retired)
            os.ftruncate(self._descriptor, 0)
            os.fsync(self._descriptor)
        except OSError as error:
            self.failed = f"{self.path} could not take back the lines of {self.next_path} ({error})"
            raise
        self._next, self._descriptor = self._descriptor, retired
        self._retired = None
        self.size, self.records = size + len(content), records + self.records

    def append(self, data: bytes, records: int) -> None:
        """Write and fsync; on failure cut the log back to its previous end and raise OSError."""
        if self.failed:
            raise OSError(self.failed)
        start = self.size
        try:
            _write_all(self._descriptor, data)
        except OSError:
            self._cut(start)
            raise
        try:
            os.fdatasync(self._descriptor)
        except OSError as error:
            # After a failed fsync the kernel may have dropped the pages: nothing can be trusted.
            self._cut(start)
            self.failed = f"fsync of {self.path} failed ({error}); restart the gateway"
            raise
        self.size = start + len(data)
        self.records += records

    def _cut(self, size: int) -> None:
        try:
            os.ftruncate(self._descriptor, size)
        except OSError as error:
            self.failed = f"{self.path} could not be cut back after a failed write ({error})"

    def close(self, remove: bool = False) -> None:
        """Close the files; `remove` them too once a snapshot holds everything."""
        for descriptor in (self._descriptor, self._next, self._retired and self._retired[0]):
            if descriptor is not None:
                os.close(descriptor)
        if remove:
            self.path.unlink(missing_ok=True)
            self.next_path.unlink(missing_ok=True)
            fsync_directory(self.path.parent)
