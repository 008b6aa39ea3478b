"""The storage interface every backend implements, and the records it stores.

A record is one object: its UUID, its creation and modification times (ISO-8601, UTC), its
data (the schema's properties), the client that created it (`owner`, None for anonymous or the
gateway itself) and its version (1 at creation, one more at every change). Collections are named by schema `$id`. Every method is a
coroutine so that backends may wait for disks (group commit) or database servers.

Records a store returns may share their `data` with the stored state (the embedded store hands
out its documents without copying them): treat them as read only and copy before changing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway_core.query import ListQuery


@dataclass(frozen=True)
class StoredObject:
    id: str
    created: str
    modified: str
    data: dict[str, Any]
    owner: str | None = None
    version: int = 1


@dataclass(frozen=True)
class Put:
    """Insert the object, or replace the stored one with the same id."""

    collection: str
    obj: StoredObject


@dataclass(frozen=True)
class Delete:
    collection: str
    object_id: str


Change = Put | Delete


@dataclass(frozen=True)
class Page:
    items: list[StoredObject]
    total: int


class Store(Protocol):
    """A backend: TinyDB (embedded, the default) or others behind the same four methods."""

    @property
    def generation(self) -> int | None:
        """A number that changes whenever a write is applied, for caches of what was read; None
        for a store that other processes write too (it cannot know)."""

    @property
    def ready(self) -> bool:
        """False while the store still builds what it builds after start-up (the embedded store's
        search indexes); it answers meanwhile, some queries more slowly."""

    async def get(self, collection: str, object_id: str) -> StoredObject | None:
        """The object, or None when there is none with that id."""

    async def write(self, changes: Sequence[Change]) -> None:
        """Apply every change or none; return only once the changes are durable."""

    async def query(self, collection: str, query: ListQuery) -> Page:
        """One page of the objects matching every condition, in creation order, and the total."""

    def stream(self, collection: str, query: ListQuery) -> AsyncIterator[StoredObject]:
        """Every match in the query's order and window, a chunk at a time (exports)."""

    async def close(self) -> None:
        """Release files, connections and locks."""
