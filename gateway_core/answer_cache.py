"""Encoded answers of single objects, so that reading an unchanged object again skips rendering,
JSON encoding and the ETag digest (docs/performance.md, "The answer cache").

An entry is the JSON body and ETag of one object as one kind of caller sees it, keyed by the
endpoint, the object's id and the caller's scopes (they decide which related objects are
embedded), and used only for the version and modification time it was made of. An object whose rendering looked up related objects also
depends on those: its entry holds the store's write generation and is used only while that is
unchanged; a store that cannot tell (PostgreSQL, which other processes write too) gets no such
entries. Entries are only made for plain answers: no `_fields`, `_extend` or facade, and no
listener that may change what is read or answered (the service decides that).

Bounded in bytes; when full, the entries made first go first.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway_core.preconditions import etag


@dataclass(frozen=True)
class EncodedAnswer:
    version: int
    modified: str
    body: bytes
    etag: str
    generation: int | None  # the store's write generation it depends on; None: only the object


def encode(
    document: dict[str, Any], version: int, modified: str, generation: int | None
) -> EncodedAnswer:
    body = orjson.dumps(document)
    return EncodedAnswer(version, modified, body, etag(version, body), generation)


class AnswerCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: dict[Hashable, EncodedAnswer] = {}
        self._bytes = 0

    def get(
        self, key: Hashable, version: int, modified: str, generation: int | None
    ) -> EncodedAnswer | None:
        found = self._entries.get(key)
        if (
            found is None
            or found.version != version
            or found.modified != modified
            or (found.generation is not None and found.generation != generation)
        ):
            return None
        return found

    def put(self, key: Hashable, answer: EncodedAnswer) -> None:
        size = len(answer.body)
        if size > self.max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= len(previous.body)
        while self._bytes + size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._bytes -= len(self._entries.pop(oldest).body)
        self._entries[key] = answer
        self._bytes += size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """The bytes of the cached bodies."""
        return self._bytes
