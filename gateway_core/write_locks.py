"""Which writes may run side by side (docs/storage.md, "Concurrent writes").

- A write that reads or changes objects other than its own (nested objects, two-way links,
  deletes that look for referrers or cascade) runs **alone**: `exclusive()`.
- A write of one object whose relations it does not change (most PATCHes and PUTs) runs **beside
  other such writes**: `shared()` plus `one(key)`, a lock of its own object, so the
  read-modify-write of one object is still serialised while writes of different objects reach the
  store together and share its fsync (group commit).

Exclusive writers are preferred: once one waits, new shared writers wait behind it, so a steady
stream of PATCHes cannot starve a DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable


class WriteLocks:
    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0
        self._objects: dict[Hashable, tuple[asyncio.Lock, int]] = {}  # lock, holders + waiters

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._changed:
            self._exclusive_waiting += 1
            try:
                await self._changed.wait_for(lambda: not self._exclusive and self._shared == 0)
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            async with self._changed:
                self._exclusive = False
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(
                lambda: not self._exclusive and self._exclusive_waiting == 0
            )
            self._shared += 1
        try:
            yield
        finally:
            async with self._changed:
                self._shared -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def one(self, key: Hashable) -> AsyncIterator[None]:
        """The lock of one object (taken inside `shared()`); forgotten when nobody holds it."""
        lock, users = self._objects.get(key, (asyncio.Lock(), 0))
        self._objects[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._objects[key]
            if users == 1:
                del self._objects[key]
            else:
                self._objects[key] = (lock, users - 1)
