"""Documents of PostgreSQL rows read before, so that an unchanged row read again is neither sent
by the database nor decoded again (docs/postgresql.md, "Documents read again").

A `_search` page of 30 Partij objects spent about a quarter of the database's time on turning
their documents into text and about 30% of the gateway's on decoding them (docs/performance.md),
mostly for documents it had read a moment before. So the documents read are kept, each with the
version and modification time of its row; a statement tells the database which ones it holds (by
id, version and modification time) and gets NULL instead of the document for a row that still has
them. Every write gives a row a new version or time, in whichever process, so a kept document is
never used for a row it no longer matches: nothing has to be invalidated. (A change made around
the gateway that keeps both, SQL by hand, is not seen; the answer cache has the same rule.)

A list statement can only name the documents it expects: those of the page the same statement
(text and parameters) answered last. Documents are kept from the second time a statement runs:
lists asked once (the BSN of each caller) would otherwise push out those of lists asked often.
An item read does not name its document: for a Partij of 0.7 KB that saved no measurable time.

Bounded in entries; when full, the entry made first goes first. The documents are shared with
the records the store returns, which are read only (storage/base.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

DOCUMENT_ENTRIES = 4_096  # about 2.5 KB each in memory for a Partij (0.5 KB of JSON)
PAGE_ENTRIES = 1_024


@dataclass(frozen=True)
class KeptDocument:
    stamp: str  # "version modified": what a statement compares with the row's (postgresql.py)
    data: dict[str, Any]


class DocumentCache:
    def __init__(
        self, max_documents: int = DOCUMENT_ENTRIES, max_pages: int = PAGE_ENTRIES
    ) -> None:
        self.max_documents = max_documents
        self.max_pages = max_pages
        # OrderedDict: dropping a dict's first entry again and again makes finding it slow
        self._documents: OrderedDict[tuple[str, str], KeptDocument] = OrderedDict()
        self._pages: OrderedDict[Hashable, tuple[str, ...]] = OrderedDict()  # statement -> its ids

    def put(
        self, collection: str, object_id: str, version: int, modified: str, data: dict[str, Any]
    ) -> None:
        if self.max_documents <= 0:
            return
        key = (collection, object_id)
        self._documents.pop(key, None)
        while len(self._documents) >= self.max_documents:
            self._documents.popitem(last=False)
        self._documents[key] = KeptDocument(f"{version} {modified}", data)

    def expected(self, collection: str, statement: Hashable) -> dict[str, KeptDocument] | None:
        """The kept documents of the page `statement` answered last, by id; None when it was not
        run before (or long ago): its documents are kept only when it comes again, so that lists
        asked once (a BSN each) do not push out the documents of those asked often."""
        ids = self._pages.get(statement)
        if ids is None:
            return None
        found = {}
        for object_id in ids:
            kept = self._documents.get((collection, object_id))
            if kept is not None:
                found[object_id] = kept
        return found

    def answered(self, statement: Hashable, ids: tuple[str, ...]) -> None:
        if self.max_pages <= 0:
            return
        if self._pages.get(statement) == ids:
            return
        self._pages.pop(statement, None)
        while len(self._pages) >= self.max_pages:
            self._pages.popitem(last=False)
        self._pages[statement] = ids

    def __len__(self) -> int:
        return len(self._documents)
