"""Hash indexes for exact-match filters: dotted path -> {key: document id(s)}, kept on every write.

An index gives the documents that hold a value at a path. Keys follow the query semantics of `eq`,
`exact` and `in`:

- strings are keyed by `casefold()` (`eq`/`in` compare case-insensitively; `exact` compares
  case-sensitively, so for it the index gives candidates that the query checks);
- numbers by value (1 and 1.0 share a key), booleans by a key of their own (True is not 1);
- a path through arrays indexes every element's value (any element may match).

A stored string that reads as a number ("12") or a boolean ("true") matches `number`/`boolean`
filters too (see `as_kind`); an index counts such strings and declines those filters while it
holds any, so the store scans instead. Dates and date-times are compared as parsed moments, not
text: such filters always scan.

**Exact answers.** The compiled query crosses an array only where the schema declares one (the
condition's `arrays`), the index crosses every array it meets. The index therefore counts, per step
of its path, the documents with an array where the query expects none and with an object where it
expects an array, and the nested arrays; while those counts leave no document the two readings
could differ on, an `eq`/`in` (and a number or boolean `exact`) answer is exact: the store takes it
without running the condition on the documents (`answer`). Otherwise the ids are candidates and the
store checks the condition on them, so results always equal a scan.

Which paths are indexed: those declared per schema in a plugin manifest (`"indexes"`), and
automatically a path used in `eq`/`exact`/`in` filters `AUTO_INDEX_AFTER` times while its
collection holds more than `AUTO_INDEX_MIN_OBJECTS` objects (at most `AUTO_INDEX_LIMIT` automatic
indexes per collection; they live in memory only and are rebuilt when used again after a restart),
unless a sample shows that one value covers more than `AUTO_INDEX_MAX_SHARE` of the documents
(such as `objecttype`: every Partij is an `ingeschrevenpersoon`): such an index would cost memory
and upkeep on every write and narrow nothing. That verdict is kept until the collection has doubled.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.query import Condition
from gateway_core.storage.idsets import size
from gateway_core.storage.tinydb_query import METADATA_PATHS

AUTO_INDEX_AFTER = 3
AUTO_INDEX_MIN_OBJECTS = 100
AUTO_INDEX_LIMIT = 8
AUTO_INDEX_MAX_SHARE = 0.5  # of the sampled documents under one key: the path does not narrow
AUTO_INDEX_SAMPLE = 1_000
INDEXED_OPERATORS = frozenset({"eq", "exact", "in"})
INDEXED_KINDS = frozenset({"string", "number", "boolean"})
_BOOLEAN_WORDS = frozenset({"true", "false", "1", "0"})
_TRUE, _FALSE = ("boolean", True), ("boolean", False)  # keys of their own: True == 1 in Python

Key = str | int | float | tuple[str, bool]
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
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int | float):
        return value
    return None


class _Shape:
    """How one document's values at a path were reached: per step, whether an array or an object
    stood there, and whether an array held arrays."""

    __slots__ = ("listed", "nested", "unlisted")

    def __init__(self, steps: int) -> None:
        self.listed = [False] * steps
        self.unlisted = [False] * steps
        self.nested = False


def _walk(value: Any, parts: list[str], step: int, shape: _Shape, found: list[Any]) -> None:
    """The values at `parts[step:]` below `value` (the value of step - 1), crossing every array."""
    child = value.get(parts[step]) if isinstance(value, dict) else None
    if child is None:
        return
    last = step == len(parts) - 1
    if isinstance(child, list):
        shape.listed[step] = True
        elements = _flatten(child, shape)
    else:
        if isinstance(child, dict) and not last:
            shape.unlisted[step] = True
        elements = [child]
    if last:
        found.extend(elements)
        return
    for element in elements:
        if isinstance(element, dict):
            _walk(element, parts, step + 1, shape, found)


def _flatten(values: list[Any], shape: _Shape) -> list[Any]:
    if not any(isinstance(value, list) for value in values):
        return values
    shape.nested = True
    flat: list[Any] = []
    for value in values:
        flat.extend(_flatten(value, shape) if isinstance(value, list) else [value])
    return flat


class HashIndex:
    """value key -> document ids for one dotted path of the documents' `data`."""

    __slots__ = (
        "_boolean_texts",
        "_listed",
        "_nested",
        "_number_texts",
        "_unlisted",
        "automatic",
        "parts",
        "path",
        "slots",
    )

    def __init__(self, path: str, automatic: bool = False) -> None:
        self.path = path
        self.parts = path.split(".")
        self.automatic = automatic
        self.slots: dict[Key, Slot] = {}
        self._number_texts = 0
        self._boolean_texts = 0
        # documents with an array / an object at each step, and with arrays in arrays
        self._listed = [0] * len(self.parts)
        self._unlisted = [0] * len(self.parts)
        self._nested = 0

    def __len__(self) -> int:
        return len(self.slots)

    def _values(self, data: Any, step: int) -> list[Any]:
        """The values at the path in `data`; counts the document's shape with `step` (+1 when it is
        added, -1 when removed, 0 to leave the counts alone)."""
        shape = _Shape(len(self.parts))
        found: list[Any] = []
        _walk(data, self.parts, 0, shape, found)
        if step:
            for index, listed in enumerate(shape.listed):
                if listed:
                    self._listed[index] += step
            for index, unlisted in enumerate(shape.unlisted):
                if unlisted:
                    self._unlisted[index] += step
            if shape.nested:
                self._nested += step
        return found

    def keys_of(self, data: Any, step: int = 0) -> Iterator[tuple[Key, Any]]:
        seen: set[Key] = set()
        for value in self._values(data, step):
            key = _key(value)
            if key is not None and key not in seen:
                seen.add(key)
                yield key, value

    def add(self, doc_id: int, data: Any) -> None:
        slots = self.slots
        for key, value in self.keys_of(data, 1):
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
        for key, value in self.keys_of(data, -1):
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
            return [_TRUE if v else _FALSE for v in wanted if isinstance(v, bool)]
        return None

    def answers_exactly(self, condition: Condition) -> bool:
        """Whether the documents under `lookup_keys(condition)` are exactly its matches: the
        query reads the path as this index does for every stored document (see the module)."""
        if condition.operator == "exact" and condition.kind == "string":
            return False  # keys are case-folded
        if self._nested:
            return False
        prefix = ""
        for step, part in enumerate(self.parts[:-1]):
            prefix = f"{prefix}.{part}" if prefix else part
            if self._unlisted[step] if prefix in condition.arrays else self._listed[step]:
                return False
        return True

    def slots_of(self, keys: Iterable[Key]) -> list[Slot]:
        return [slot for key in keys if (slot := self.slots.get(key)) is not None]

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


@dataclass(frozen=True)
class IndexAnswer:
    """The documents under any of `slots`; `exact`: exactly the matches of `condition`."""

    condition: Condition
    slots: list[Slot]
    exact: bool

    @property
    def size(self) -> int:
        """An upper bound of the number of documents (an `in` may find one under several keys)."""
        return sum(size(slot) for slot in self.slots)


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
        self.not_narrowing: dict[str, int] = {}  # path -> collection size when it was sampled
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
        """Count filters on unindexed paths; index one used often on a large collection, unless
        a sample shows it would not narrow."""
        if not self.automatic or len(documents) <= AUTO_INDEX_MIN_OBJECTS:
            return
        for condition in conditions:
            if not indexable(condition):
                continue
            assert isinstance(condition, Condition)
            path = condition.path
            if path in self.indexes:
                continue
            sampled_at = self.not_narrowing.get(path)
            if sampled_at is not None and len(documents) < 2 * sampled_at:
                continue
            self.uses[path] = uses = self.uses.get(path, 0) + 1
            automatic = sum(1 for index in self.indexes.values() if index.automatic)
            if uses < AUTO_INDEX_AFTER or automatic >= AUTO_INDEX_LIMIT:
                continue
            index = HashIndex(path, automatic=True)
            if narrows(index, documents):
                self.not_narrowing.pop(path, None)
                self.build(index, documents)
            else:
                self.not_narrowing[path] = len(documents)
                self.uses[path] = 0

    def answer(self, condition: object) -> IndexAnswer | None:
        """What the index on the condition's path knows of its matches; None without one."""
        if not indexable(condition):
            return None
        assert isinstance(condition, Condition)
        index = self.indexes.get(condition.path)
        if index is None:
            return None
        keys = index.lookup_keys(condition)
        if keys is None:
            return None
        return IndexAnswer(condition, index.slots_of(keys), index.answers_exactly(condition))


def narrows(index: HashIndex, documents: Mapping[int, Any]) -> bool:
    """Whether no key of `index` would hold more than `AUTO_INDEX_MAX_SHARE` of the documents,
    judged on up to `AUTO_INDEX_SAMPLE` documents spread over the collection."""
    step = max(1, len(documents) // AUTO_INDEX_SAMPLE)
    sample = list(itertools.islice(documents.values(), 0, None, step))
    counts: Counter[Key] = Counter()
    for document in sample:
        counts.update(key for key, _ in index.keys_of(document["data"]))
    return not counts or max(counts.values()) <= AUTO_INDEX_MAX_SHARE * len(sample)
