"""The embedded store's `_search` index: the words of a collection's string values -> documents.

`_search=term` keeps the documents holding a string value that contains the case-folded term
(tinydb_query.compile_search: a substring test, not a word match). The index answers that exactly,
without looking at a document, whenever the folded term is made of word characters only (regex
`\\w`: letters, digits, `_`): such a term can only occur inside one word (a maximal run of word
characters) of one folded value, so the matches are the documents of the words that contain the
term. The index therefore holds:

- the words of every document (all its string values folded with `str.casefold`, split into
  maximal `\\w` runs) -> the documents holding them (postings, see idsets.py);
- the vocabulary's trigrams -> the words holding them, so that the words containing a term are found
  by checking the words of the rarest trigram of the term, not the whole vocabulary.

A term with other characters (`e-mail`, `Jan Jansen`) narrows by its word runs (the inner ones are
whole words, the first ends a word, the last starts one) and the store checks the candidates with
the full search; a term without word characters does not narrow (scan). `_search[paths]` uses the
same candidates (from anywhere in the document) and the check.

A large collection's index is built in slices between requests (`begin_build`, `build_step`);
changes to documents the build has not reached yet are skipped, the build reads their current
version when it gets there.
"""

from __future__ import annotations

import bisect
import itertools
import re
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.storage.idsets import Posting, size, with_id, with_ids, without_id

WORD = re.compile(r"\w+")
GRAM = 3
# ASCII text: every byte that is not a word character becomes a space (`\w` on ASCII is [0-9A-Za-z_])
_ASCII_SPACES = bytes(
    code if chr(code).isalnum() or chr(code) == "_" else 0x20 for code in range(128)
) + bytes([0x20] * 128)
_SEPARATOR = "\x00"  # not a word character: keeps the values of a document apart


def _collect_strings(container: dict[str, Any] | list[Any], found: list[str]) -> None:
    for child in container.values() if isinstance(container, dict) else container:
        if isinstance(child, str):
            found.append(child)
        elif isinstance(child, dict | list):
            _collect_strings(child, found)


def words_of_text(folded: str) -> list[str]:
    """The maximal runs of word characters of an already case-folded text."""
    if folded.isascii():
        return folded.encode("ascii").translate(_ASCII_SPACES).decode("ascii").split()
    return WORD.findall(folded)


def document_words(data: Any) -> set[str]:
    """The words of every string value under `data` (values, not keys), case-folded."""
    strings: list[str] = []
    if isinstance(data, str):
        strings.append(data)
    elif isinstance(data, dict | list):
        _collect_strings(data, strings)
    # casefold works character by character, so folding the joined text folds every value
    return set(words_of_text(_SEPARATOR.join(strings).casefold()))


@dataclass(frozen=True)
class TextAnswer:
    """The documents of any of `postings`; `exact`: exactly the matches of the search (else a
    superset that the full search must check)."""

    postings: list[Posting]
    exact: bool

    @property
    def size(self) -> int:
        """An upper bound of the number of documents (postings may overlap)."""
        return sum(size(posting) for posting in self.postings)


class TextIndex:
    """Words -> documents, and trigrams -> words, for one collection."""

    def __init__(self) -> None:
        self._clear()
        self.ready = True
        self._queue: list[int] = []
        self._position = 0
        self._frontier = -1

    def _clear(self) -> None:
        self._ids: dict[str, int] = {}  # word -> word id
        self._words: list[str | None] = []  # word id -> word (None: free)
        self._postings: list[Posting | None] = []  # word id -> documents
        self._free: list[int] = []  # word ids of words no document holds any more
        self._grams: dict[str, array[int]] = {}  # trigram -> ascending ids of the words holding it
        self._short: set[int] = set()  # ids of words shorter than a trigram
        self._capacity = 0  # the highest document id seen (postings become bitmaps relative to it)

    def __len__(self) -> int:
        """The number of distinct words."""
        return len(self._ids)

    # -- upkeep ---------------------------------------------------------------------------------

    def covers(self, doc_id: int) -> bool:
        """Whether a change to this document must be applied now (the build has been there)."""
        return self.ready or doc_id <= self._frontier

    def add(self, doc_id: int, data: Any) -> None:
        if self.covers(doc_id):
            self._insert(doc_id, document_words(data))

    def remove(self, doc_id: int, data: Any) -> None:
        if self.covers(doc_id):
            for word in document_words(data):
                self._remove_word(word, doc_id)

    def replace(self, doc_id: int, old: Any, new: Any) -> None:
        if not self.covers(doc_id):
            return
        before, after = document_words(old), document_words(new)
        for word in before - after:
            self._remove_word(word, doc_id)
        self._insert(doc_id, after - before)

    def _insert(self, doc_id: int, words: set[str]) -> None:
        if doc_id > self._capacity:
            self._capacity = doc_id
        ids, postings = self._ids, self._postings
        for word in words:
            word_id = ids.get(word)
            if word_id is None:
                self._new_word(word, doc_id)
            else:
                postings[word_id] = with_id(postings[word_id], doc_id, self._capacity)

    def _insert_many(self, documents: list[tuple[int, set[str]]]) -> None:
        """`_insert` for many new documents at once (ascending ids): per word, not per pair."""
        if not documents:
            return
        self._capacity = max(self._capacity, documents[-1][0])
        holders: dict[str, list[int]] = {}
        for doc_id, words in documents:
            for word in words:
                found = holders.get(word)
                if found is None:
                    holders[word] = [doc_id]
                else:
                    found.append(doc_id)
        ids, postings = self._ids, self._postings
        for word, doc_ids in holders.items():
            word_id = ids.get(word)
            if word_id is None:
                self._new_word(word, doc_ids[0])
                if len(doc_ids) == 1:
                    continue
                word_id = ids[word]
            postings[word_id] = with_ids(postings[word_id], doc_ids, self._capacity)

    def _new_word(self, word: str, doc_id: int) -> None:
        if self._free:
            word_id = self._free.pop()
            self._words[word_id] = word
            self._postings[word_id] = doc_id
        else:
            word_id = len(self._words)
            self._words.append(word)
            self._postings.append(doc_id)
        self._ids[word] = word_id
        if len(word) < GRAM:
            self._short.add(word_id)
            return
        grams = self._grams
        for gram in {word[i : i + GRAM] for i in range(len(word) - GRAM + 1)}:
            holders = grams.get(gram)
            if holders is None:
                grams[gram] = array("I", (word_id,))
            elif holders[-1] < word_id:
                holders.append(word_id)
            else:  # a reused id
                bisect.insort(holders, word_id)

    def _remove_word(self, word: str, doc_id: int) -> None:
        word_id = self._ids[word]
        posting = self._postings[word_id]
        assert posting is not None
        remaining = without_id(posting, doc_id)
        self._postings[word_id] = remaining
        if remaining is not None:
            return
        del self._ids[word]
        self._words[word_id] = None
        self._free.append(word_id)
        if len(word) < GRAM:
            self._short.discard(word_id)
            return
        for gram in {word[i : i + GRAM] for i in range(len(word) - GRAM + 1)}:
            holders = self._grams[gram]
            del holders[bisect.bisect_left(holders, word_id)]
            if not holders:
                del self._grams[gram]

    # -- building in slices ---------------------------------------------------------------------

    def begin_build(self, documents: Mapping[int, Any]) -> None:
        """Start over empty; `build_step` then indexes the documents in ascending id order."""
        self._clear()
        self.ready = False
        self._queue, self._position, self._frontier = list(documents), 0, -1

    def build_step(self, documents: Mapping[int, Any], count: int) -> bool:
        """Index the next `count` documents; True once every document is indexed."""
        if self.ready:
            return True
        end = min(self._position + count, len(self._queue))
        batch = []
        for doc_id in self._queue[self._position : end]:
            document = documents.get(doc_id)
            if document is not None:
                batch.append((doc_id, document_words(document["data"])))
        self._insert_many(batch)
        if end > self._position:
            self._frontier = self._queue[end - 1]
        self._position = end
        if end < len(self._queue):
            return False
        # documents created while building have higher ids than any queued one: the newest last
        last = self._queue[-1] if self._queue else -1
        created = list(itertools.takewhile(lambda doc_id: doc_id > last, reversed(documents)))
        self._insert_many(
            [(doc_id, document_words(documents[doc_id]["data"])) for doc_id in reversed(created)]
        )
        self._queue, self._position, self.ready = [], 0, True
        return True

    # -- answering ------------------------------------------------------------------------------

    def lookup(self, term: str) -> TextAnswer | None:
        """The documents whose string values contain `term` (case-folded), exactly when the term is
        all word characters; else candidates; None when the index cannot narrow (no word)."""
        if not self.ready:
            return None
        folded = term.casefold()
        if WORD.fullmatch(folded):
            return TextAnswer(self._postings_of(self._words_matching(folded)), True)
        best: list[Posting] | None = None
        for run in WORD.finditer(folded):
            fragment = run.group()
            after_separator, before_separator = run.start() > 0, run.end() < len(folded)
            if after_separator and before_separator:  # an inner run: a whole word
                word_id = self._ids.get(fragment)
                found = [word_id] if word_id is not None else []
            elif after_separator:  # the last run: the start of a word
                found = self._words_matching(fragment, "start")
            else:  # the first run: the end of a word
                found = self._words_matching(fragment, "end")
            postings = self._postings_of(found)
            if best is None or sum(map(size, postings)) < sum(map(size, best)):
                best = postings
        return TextAnswer(best, False) if best is not None else None

    def _postings_of(self, word_ids: list[int]) -> list[Posting]:
        postings = self._postings
        return [posting for word_id in word_ids if (posting := postings[word_id]) is not None]

    def _words_matching(self, fragment: str, anchor: str | None = None) -> list[int]:
        """The ids of the words that contain `fragment`; with `anchor` "start" or "end", the words
        that start or end with it."""
        if len(fragment) >= GRAM:
            rarest: array[int] | None = None
            for i in range(len(fragment) - GRAM + 1):
                holders = self._grams.get(fragment[i : i + GRAM])
                if holders is None:
                    return []
                if rarest is None or len(holders) < len(rarest):
                    rarest = holders
            candidates: Any = rarest or ()
        else:  # a word of three or more characters holding it holds it in one of its trigrams
            found = set(self._short)
            for gram, holders in self._grams.items():
                if fragment in gram:
                    found.update(holders)
            candidates = found
        words = self._words
        found_words = [(word_id, words[word_id]) for word_id in candidates]
        if anchor == "start":
            return [i for i, word in found_words if word is not None and word.startswith(fragment)]
        if anchor == "end":
            return [i for i, word in found_words if word is not None and word.endswith(fragment)]
        return [i for i, word in found_words if word is not None and fragment in word]
