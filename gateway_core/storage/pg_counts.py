"""Totals of PostgreSQL list queries, kept while the database is unchanged (docs/postgresql.md,
"Totals").

A page that is full needs the number of all matches, and counting them reads every match: 25 ms
for a `_search` term found in a tenth of 100,000 objects, 140 ms for one found in all of them,
against 0.3 ms for the page itself (docs/performance.md). So a count is kept, keyed by the query's
WHERE clause and parameters, together with its collection's write generation when it was made:
one of a few sequences, which every gateway write to the collection advances after its commit
(postgresql.py), in whichever process it runs. (A count reads its own collection only: filters
across relations reach the store as the related objects' ids.) A count is used only while that
generation is unchanged, so a change made through any gateway process is in every total asked for
after its answer.

The generation is read before the count is made: a write that the count does not see commits
after the count's snapshot, and advances the generation after its commit, so the kept count is
not used once that write is answered. A change made around the gateway (SQL by hand, a process
killed between a commit and its advance) does not advance it; `max_age` bounds how long a total
can then miss it.

Bounded in entries (keyed by a digest, not the query's text); when full, the entry made first
goes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

COUNT_CACHE_ENTRIES = 1_024
COUNT_MAX_AGE = 5.0  # seconds a kept total may miss a change made around the gateway (0: none kept)


class CountCache:
    def __init__(
        self,
        max_entries: int,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[Hashable, tuple[int, float, int]] = {}  # generation, made at, total

    def get(self, key: Hashable, generation: int) -> int | None:
        found = self._entries.get(key)
        if found is None:
            return None
        made_for, made_at, total = found
        if made_for != generation or self._clock() - made_at > self.max_age:
            del self._entries[key]
            return None
        return total

    def put(self, key: Hashable, generation: int, total: int) -> None:
        if self.max_entries <= 0 or self.max_age <= 0:
            return
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (generation, self._clock(), total)

    def __len__(self) -> int:
        return len(self._entries)
