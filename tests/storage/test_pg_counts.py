"""The kept totals of the PostgreSQL backend (gateway_core/storage/pg_counts.py); with a database
in test_postgresql.py."""

from __future__ import annotations

from gateway_core.storage.pg_counts import CountCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_total_is_used_only_for_the_generation_it_was_counted_at() -> None:
    cache = CountCache(10, 60, Clock())
    cache.put("q", 4, 120)
    assert cache.get("q", 4) == 120
    assert cache.get("q", 5) is None
    assert cache.get("q", 4) is None  # a newer generation was seen: the entry is gone


def test_a_total_older_than_max_age_is_counted_again() -> None:
    clock = Clock()
    cache = CountCache(10, 5, clock)
    cache.put("q", 1, 7)
    clock.now += 5
    assert cache.get("q", 1) == 7
    clock.now += 0.5
    assert cache.get("q", 1) is None


def test_when_full_the_oldest_entry_goes_first() -> None:
    cache = CountCache(2, 60, Clock())
    cache.put("a", 1, 1)
    cache.put("b", 1, 2)
    cache.put("a", 1, 3)  # made again: now the newest
    cache.put("c", 1, 4)
    assert (cache.get("a", 1), cache.get("b", 1), cache.get("c", 1)) == (3, None, 4)
    assert len(cache) == 2


def test_no_entries_or_no_age_keeps_nothing() -> None:
    for cache in (CountCache(0, 60, Clock()), CountCache(10, 0, Clock())):
        cache.put("q", 1, 7)
        assert cache.get("q", 1) is None and len(cache) == 0
