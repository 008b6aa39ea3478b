"""Planning a list query on the embedded store: which documents to look at, what is left to check.

The indexes (hash indexes on paths, indexes.py; the search index, text_index.py) each answer some
conditions of a query, exactly or as candidates. The plan starts from the smallest answer, keeps
the documents that the other exact answers also hold (a membership test each), and leaves every
condition no index answered exactly to the compiled TinyDB query, run on those documents only.
When nothing is left, the documents are the result: no document is read to decide it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from tinydb.queries import QueryInstance

from gateway_core.query import ListQuery
from gateway_core.storage.idsets import Posting, contains, union
from gateway_core.storage.indexes import CollectionIndexes
from gateway_core.storage.text_index import TextIndex
from gateway_core.storage.tinydb_query import compile_query


@dataclass(frozen=True)
class Plan:
    """`ids`: the documents that may match (None: all of them); `residual`: the query they must
    still pass (None: `ids` are exactly the matches)."""

    ids: Collection[int] | None
    residual: QueryInstance | None


@dataclass(frozen=True)
class _Answer:
    postings: list[Posting]
    exact: bool
    size: int


def plan_query(query: ListQuery, indexes: CollectionIndexes, text: TextIndex | None) -> Plan:
    answers: list[_Answer] = []
    unanswered = []
    for condition in query.conditions:
        answer = indexes.answer(condition)
        if answer is None:
            unanswered.append(condition)
            continue
        if not answer.exact:
            unanswered.append(condition)
        answers.append(_Answer(list(answer.slots), answer.exact, answer.size))
    search = query.search
    if search is not None and text is not None:
        found = text.lookup(search.term)
        if found is not None:
            exact = found.exact and search.paths is None  # the index does not know paths
            answers.append(_Answer(found.postings, exact, found.size))
            if exact:
                search = None
    residual = compile_query(ListQuery(tuple(unanswered), search))
    if not answers:
        return Plan(None, residual)
    driver = min(answers, key=lambda answer: answer.size)
    ids = union(driver.postings)
    others = [answer.postings for answer in answers if answer is not driver and answer.exact]
    if others:
        ids = {
            doc_id
            for doc_id in ids
            if all(any(contains(posting, doc_id) for posting in postings) for postings in others)
        }
    return Plan(ids, residual)
