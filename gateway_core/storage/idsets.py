"""Sets of document ids for the embedded store's indexes: one id, a set, or a bitmap.

A posting (the ids under one index key) is an `int` while it holds one document, a `set` while it
holds a few, and a `Bitmap` (one bit per possible id) once it holds so many that the bitmap is
smaller: a word found in every one of 100,000 documents takes 12.5 KB as a bitmap and about 4 MB as
a set. Document ids are small ascending ints (creation order), so bits are cheap and a bitmap lists
its ids in creation order without sorting.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

_BIT_POSITIONS = tuple(tuple(bit for bit in range(8) if byte >> bit & 1) for byte in range(256))
BITS_PER_SET_ENTRY = 256  # a set entry costs ~32 bytes: a bitmap wins above 1 id per 256 possible


class Bitmap:
    """Non-negative ints as bits of a growable bytearray, with their count."""

    __slots__ = ("bits", "count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.bits = bytearray()
        self.count = 0
        self.update(ids)

    @classmethod
    def from_int(cls, value: int) -> Bitmap:
        bitmap = cls()
        bitmap.bits = bytearray(value.to_bytes((value.bit_length() + 7) // 8, "little"))
        bitmap.count = value.bit_count()
        return bitmap

    def as_int(self) -> int:
        return int.from_bytes(self.bits, "little")

    def add(self, doc_id: int) -> None:
        index = doc_id >> 3
        bits = self.bits
        if index >= len(bits):
            bits.extend(bytes(max(index + 1 - len(bits), len(bits) // 4 + 64)))
        mask = 1 << (doc_id & 7)
        if not bits[index] & mask:
            bits[index] |= mask
            self.count += 1

    def update(self, doc_ids: Iterable[int]) -> None:
        doc_ids = list(doc_ids)
        if not doc_ids:
            return
        bits = self.bits
        needed = (max(doc_ids) >> 3) + 1
        if needed > len(bits):
            bits.extend(bytes(max(needed - len(bits), len(bits) // 4 + 64)))
        for doc_id in doc_ids:
            bits[doc_id >> 3] |= 1 << (doc_id & 7)
        self.count = int.from_bytes(bits, "little").bit_count()

    def discard(self, doc_id: int) -> None:
        index = doc_id >> 3
        bits = self.bits
        if index < len(bits):
            mask = 1 << (doc_id & 7)
            if bits[index] & mask:
                bits[index] &= ~mask & 0xFF
                self.count -= 1

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, int) or doc_id < 0:
            return False
        index = doc_id >> 3
        return index < len(self.bits) and bool(self.bits[index] >> (doc_id & 7) & 1)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        """Ascending."""
        for index, byte in enumerate(self.bits):
            if byte:
                base = index << 3
                for bit in _BIT_POSITIONS[byte]:
                    yield base + bit

    @property
    def capacity(self) -> int:
        return len(self.bits) << 3


Posting = int | set[int] | Bitmap


def size(posting: Posting) -> int:
    return 1 if isinstance(posting, int) else len(posting)


def contains(posting: Posting, doc_id: int) -> bool:
    return posting == doc_id if isinstance(posting, int) else doc_id in posting


def with_id(posting: Posting | None, doc_id: int, capacity: int) -> Posting:
    """`posting` with `doc_id` added (changed in place when it is a set or bitmap). `capacity`:
    the highest document id in use, which decides when a set becomes a bitmap."""
    if posting is None:
        return doc_id
    if isinstance(posting, int):
        return posting if posting == doc_id else {posting, doc_id}
    posting.add(doc_id)
    if isinstance(posting, set) and len(posting) * BITS_PER_SET_ENTRY > capacity + 2048:
        return Bitmap(posting)
    return posting


def with_ids(posting: Posting | None, doc_ids: list[int], capacity: int) -> Posting:
    """`posting` with all of `doc_ids` added (see `with_id`)."""
    if len(doc_ids) == 1:
        return with_id(posting, doc_ids[0], capacity)
    if isinstance(posting, Bitmap):
        posting.update(doc_ids)
        return posting
    ids = set(doc_ids)
    if isinstance(posting, int):
        ids.add(posting)
    elif isinstance(posting, set):
        ids |= posting
    return Bitmap(ids) if len(ids) * BITS_PER_SET_ENTRY > capacity + 2048 else ids


def without_id(posting: Posting, doc_id: int) -> Posting | None:
    """`posting` without `doc_id`; None when it is then empty."""
    if isinstance(posting, int):
        return None if posting == doc_id else posting
    posting.discard(doc_id)
    remaining = len(posting)
    if remaining == 0:
        return None
    if remaining == 1:
        return next(iter(posting))
    if isinstance(posting, Bitmap) and remaining * BITS_PER_SET_ENTRY * 4 < posting.capacity:
        return set(posting)
    return posting


def union(postings: list[Posting]) -> Collection[int]:
    """The ids in any of `postings`, as a collection that may be one of them (do not change it)."""
    if len(postings) == 1:
        only = postings[0]
        return (only,) if isinstance(only, int) else only
    if not postings:
        return ()
    if any(isinstance(posting, Bitmap) for posting in postings):
        combined = 0
        for posting in postings:
            if isinstance(posting, Bitmap):
                combined |= posting.as_int()
            elif isinstance(posting, int):
                combined |= 1 << posting
            else:
                for doc_id in posting:
                    combined |= 1 << doc_id
        return Bitmap.from_int(combined)
    found: set[int] = set()
    for posting in postings:
        if isinstance(posting, int):
            found.add(posting)
        elif isinstance(posting, set):
            found |= posting
    return found


def ascending(ids: Collection[int], documents: Mapping[int, Any], stop: int | None) -> list[int]:
    """The first `stop` (all when None) of `ids` in ascending order (= creation order, the order
    of `documents`). A bitmap is read in order; a large set is met by walking the documents in
    order (cheaper than sorting it when it holds a good share of them), a small one is sorted."""
    if isinstance(ids, Bitmap | tuple):
        found = iter(ids)
        return list(found if stop is None else itertools.islice(found, stop))
    if stop is None:
        return sorted(ids)
    count = len(ids)
    if count * count > stop * len(documents):
        return list(itertools.islice(filter(ids.__contains__, documents), stop))
    return heapq.nsmallest(stop, ids) if stop * 8 < count else sorted(ids)[:stop]
