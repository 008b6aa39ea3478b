"""`gateway migrate --from SOURCE --to TARGET`: copy every object between storage backends.

Either side is a database setting: a TinyDB data file or a postgresql:// URL. Every collection is
copied (the objecttypes' and the gateway's own, such as `gateway:installed-plugins`), each object
with its id, creation and modification times, in creation order (so list order is kept).

All or nothing: the target must be empty, and the copy is one transaction on PostgreSQL (COPY
inside a transaction that also locks the table) or one write batch on TinyDB (one line of its
write-ahead log, which a crash either keeps whole or drops). A failure leaves the target as it
was; the source is only read. The whole source is held in memory while copying (as the embedded
store holds it anyway): about 4 KB per 1 KB object.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from gateway_core.errors import StoreError
from gateway_core.query import ListQuery
from gateway_core.storage import Put, Store, StoredObject, open_store

ALL = 2**31 - 1


def _is_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def _describe(database: str) -> str:
    if _is_url(database):
        from gateway_core.storage.postgresql import redacted_url

        return redacted_url(database)
    return str(Path(database))


async def collections_of(store: Store) -> dict[str, int]:
    """Every collection of `store` -> its number of objects."""
    listing = getattr(store, "collections", None)
    if callable(listing):
        found = listing()
        if hasattr(found, "__await__"):
            found = await found
        if isinstance(found, dict):
            return {str(name): int(count) for name, count in found.items()}
        names = list(found)
    else:
        tables = getattr(store, "_tables", None)  # the embedded store: one table per collection
        if not isinstance(tables, dict):
            raise StoreError(f"cannot list the collections of {type(store).__name__}")
        names = list(tables)
    counts = {}
    for name in names:
        counts[name] = (await store.query(name, ListQuery(limit=1))).total
    return {name: count for name, count in counts.items() if count}


async def read_all(store: Store, collection: str) -> list[StoredObject]:
    """Every object of `collection`, in creation order."""
    export = getattr(store, "export", None)
    if callable(export):
        return [obj async for obj in export(collection)]
    return list((await store.query(collection, ListQuery(limit=ALL))).items)


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, every 10% otherwise."""

    def __init__(self, label: str, total: int, out: TextIO) -> None:
        self.label, self.total, self.out = label, max(total, 1), out
        self.tty = out.isatty()
        self.shown = -1
        self.started = time.monotonic()

    def __call__(self, done: int) -> None:
        percent = done * 100 // self.total
        step = 1 if self.tty else 10
        if percent // step == self.shown // step and done != self.total:
            return
        self.shown = percent
        width = 30
        filled = width * done // self.total
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} ({percent}%)"
        if self.tty:
            self.out.write("\r" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
        self.out.flush()


async def migrate(source: str, target: str, out: TextIO | None = None) -> dict[str, int]:
    """Copy everything from `source` into the empty `target`; returns collection -> count.
    Progress goes to `out` (standard error by default)."""
    out = out or sys.stderr
    if source == target:
        raise StoreError("--from and --to name the same database")
    if not _is_url(source) and not Path(source).exists():
        raise StoreError(f"{source}: no such data file")
    origin = open_store(source)
    try:
        counts = await collections_of(origin)
        total = sum(counts.values())
        print(
            f"Reading {total} objects in {len(counts)} collections from {_describe(source)}",
            file=out,
        )
        reading = Progress("read ", total, out)
        objects: list[tuple[str, StoredObject]] = []
        for collection in counts:
            objects += [(collection, obj) for obj in await read_all(origin, collection)]
            reading(len(objects))
        reading.finish()
    finally:
        await origin.close()
    read_counts: dict[str, int] = {}
    for collection, _ in objects:
        read_counts[collection] = read_counts.get(collection, 0) + 1
    destination = open_store(target)
    try:
        print(f"Writing them to {_describe(target)} (one transaction)", file=out)
        writing = Progress("write", len(objects), out)
        await _write_all(destination, objects, writing)
        writing.finish()
        written = await collections_of(destination)
    finally:
        await destination.close()
    if written != read_counts:
        raise StoreError(f"the copy does not match the source: {written} != {read_counts}")
    return written


async def _write_all(
    store: Any, objects: list[tuple[str, StoredObject]], progress: Callable[[int], None]
) -> None:
    if callable(getattr(store, "import_all", None)):  # PostgreSQL: COPY in one transaction
        await store.import_all(objects, progress)
        return
    if await collections_of(store):
        raise StoreError("the target already holds objects: migrate into an empty database")
    await store.write([Put(collection, obj) for collection, obj in objects])  # one batch
    progress(len(objects))
