"""Hash indexes for exact-match filters: dotted path -> {key: document id(s)}, kept on every write.

An index narrows the candidates of a list query; the store still runs the full compiled TinyDB
query on every candidate, so results are identical to a scan (an index may over-approximate,
never under-approximate). Keys follow the query semantics of `eq`, `exact` and `in`:

- strings are keyed by `casefold()` (`eq`/`in` compare case-insensitively; `exact` compares
  case-sensitively and is checked by the full query on the candidates);
- numbers by value (1 and 1.0 share a key), booleans as themselves (True shares the key of 1:
  harmless, the full query separates them);
- a path through arrays indexes every element's value (any element may match).

A stored string that reads as a number ("12") or a boolean ("true") matches `number`/`boolean`
filters too (see `as_kind`); an index counts such strings and declines those filters while it
holds any, so the store scans instead. Dates and date-times are compared as parsed moments, not
text: such filters always scan.

Which paths are indexed: those declared per schema in a plugin manifest (`"indexes"`), and
automatically a path used in `eq`/`exact`/`in` filters `AUTO_INDEX_AFTER` times while its
collection holds more than `AUTO_INDEX_MIN_OBJECTS` objects (at most `AUTO_INDEX_LIMIT` automatic
indexes per collection; they live in memory only and are rebuilt when used again after a restart).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gateway_core.query import Condition
from gateway_core.storage.tinydb_query import METADATA_PATHS, values_at

AUTO_INDEX_AFTER = 3
AUTO_INDEX_MIN_OBJECTS = 100
AUTO_INDEX_LIMIT = 8
INDEXED_OPERATORS = frozenset({"eq", "exact", "in"})
INDEXED_KINDS = frozenset({"string", "number", "boolean"})
_BOOLEAN_WORDS = frozenset({"true", "false", "1", "0"})

Key = str | int | float | bool
Slot = int | set[int]  # one document id, or a set of them once a key holds more than one


def _is_number_text(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _key(value: Any) -> Key | None:
    if isinstance(value, str):
        folded = value.casefold()
        return value if folded == value else folded  # share the stored string when unchanged
    if isinstance(value, bool | int | float):
        return value
    return None


class HashIndex:
    """value key -> document ids for one dotted path of the documents' `data`."""

    __slots__ = ("_boolean_texts", "_number_texts", "automatic", "parts", "path", "slots")

    def __init__(self, path: str, automatic: bool = False) -> None:
        self.path = path
        self.parts = path.split(".")
        self.automatic = automatic
        self.slots: dict[Key, Slot] = {}
        self._number_texts = 0
        self._boolean_texts = 0

    def __len__(self) -> int:
        return len(self.slots)

    def keys_of(self, data: Any) -> Iterator[tuple[Key, Any]]:
        seen: set[Key] = set()
        for value in values_at(data, self.parts):
            key = _key(value)
            if key is not None and key not in seen:
                seen.add(key)
                yield key, value

    def add(self, doc_id: int, data: Any) -> None:
        slots = self.slots
        for key, value in self.keys_of(data):
            if isinstance(value, str):
                self._count_text(value, 1)
            current = slots.get(key)
            if current is None:
                slots[key] = doc_id
            elif isinstance(current, int):
                if current != doc_id:
                    slots[key] = {current, doc_id}
            else:
                current.add(doc_id)

    def remove(self, doc_id: int, data: Any) -> None:
        slots = self.slots
        for key, value in self.keys_of(data):
            current = slots.get(key)
            if current is None:
                continue
            if isinstance(value, str):
                self._count_text(value, -1)
            if isinstance(current, int):
                if current == doc_id:
                    del slots[key]
            else:
                current.discard(doc_id)
                if len(current) == 1:
                    slots[key] = next(iter(current))
                elif not current:
                    del slots[key]

    def _count_text(self, value: str, step: int) -> None:
        if _is_number_text(value):
            self._number_texts += step
        if value.lower() in _BOOLEAN_WORDS:
            self._boolean_texts += step

    def lookup_keys(self, condition: Condition) -> list[Key] | None:
        """The keys whose documents hold every possible match; None when this index cannot tell."""
        if condition.operator not in INDEXED_OPERATORS:
            return None
        wanted = condition.value if condition.operator == "in" else (condition.value,)
        if condition.kind == "string":
            return [str(value).casefold() for value in wanted]
        if condition.kind == "number" and not self._number_texts:
            return [v for v in wanted if isinstance(v, int | float) and not isinstance(v, bool)]
        if condition.kind == "boolean" and not self._boolean_texts:
            return [v for v in wanted if isinstance(v, bool)]
        return None

    def count(self, keys: Iterable[Key]) -> int:
        total = 0
        for key in keys:
            slot = self.slots.get(key)
            if slot is not None:
                total += 1 if isinstance(slot, int) else len(slot)
        return total

    def ids(self, keys: Iterable[Key]) -> set[int]:
        found: set[int] = set()
        for key in keys:
            slot = self.slots.get(key)
            if slot is None:
                continue
            if isinstance(slot, int):
                found.add(slot)
            else:
                found |= slot
        return found


def indexable(condition: object) -> bool:
    """A filter an index can answer: eq/exact/in on a data path, as text, number or boolean."""
    return (
        isinstance(condition, Condition)
        and condition.operator in INDEXED_OPERATORS
        and condition.kind in INDEXED_KINDS
        and condition.path not in METADATA_PATHS
    )


class CollectionIndexes:
    """The indexes of one collection, their upkeep, candidate selection and the automatic rule."""

    def __init__(self, declared: Iterable[str] = (), automatic: bool = True) -> None:
        self.automatic = automatic
        self.indexes: dict[str, HashIndex] = {}
        self.uses: dict[str, int] = {}
        for path in declared:
            if path not in METADATA_PATHS:
                self.indexes.setdefault(path, HashIndex(path))

    def build(self, index: HashIndex, documents: Mapping[int, Any]) -> None:
        for doc_id, document in documents.items():
            index.add(doc_id, document["data"])
        self.indexes[index.path] = index

    def build_all(self, documents: Mapping[int, Any]) -> None:
        for path, index in list(self.indexes.items()):
            fresh = HashIndex(path, index.automatic)
            self.build(fresh, documents)

    def add(self, doc_id: int, document: Any) -> None:
        data = document["data"]
        for index in self.indexes.values():
            index.add(doc_id, data)

    def remove(self, doc_id: int, document: Any) -> None:
        data = document["data"]
        for index in self.indexes.values():
            index.remove(doc_id, data)

    def note_use(self, conditions: Iterable[object], documents: Mapping[int, Any]) -> None:
        """Count filters on unindexed paths; index one used often on a large collection."""
        if not self.automatic or len(documents) <= AUTO_INDEX_MIN_OBJECTS:
            return
        for condition in conditions:
            if not indexable(condition):
                continue
            assert isinstance(condition, Condition)
            path = condition.path
            if path in self.indexes:
                continue
            self.uses[path] = uses = self.uses.get(path, 0) + 1
            automatic = sum(1 for index in self.indexes.values() if index.automatic)
            if uses >= AUTO_INDEX_AFTER and automatic < AUTO_INDEX_LIMIT:
                self.build(HashIndex(path, automatic=True), documents)

    def candidates(self, conditions: Iterable[object]) -> list[int] | None:
        """Ids (ascending, i.e. creation order) of the documents that may match every condition,
        from the most selective indexed condition; None when no condition has an index."""
        best: tuple[int, HashIndex, list[Key]] | None = None
        for condition in conditions:
            if not indexable(condition):
                continue
            assert isinstance(condition, Condition)
            index = self.indexes.get(condition.path)
            if index is None:
                continue
            keys = index.lookup_keys(condition)
            if keys is None:
                continue
            size = index.count(keys)
            if best is None or size < best[0]:
                best = (size, index, keys)
                if size == 0:
                    break
        if best is None:
            return None
        return sorted(best[1].ids(best[2]))
