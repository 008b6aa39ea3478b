"""The kept documents of the PostgreSQL backend (gateway_core/storage/pg_documents.py); with a
database in test_postgresql.py."""

from __future__ import annotations

from gateway_core.storage.pg_documents import DocumentCache

C = "https://example.org/c.schema.json"


def test_a_page_expects_the_documents_it_answered_last_that_are_still_kept() -> None:
    cache = DocumentCache(max_documents=10, max_pages=10)
    cache.put(C, "a", 1, "t1", {"n": 1})
    cache.put(C, "b", 3, "t2", {"n": 2})
    cache.answered("page", ("a", "b", "c"))
    expected = cache.expected(C, "page")
    assert list(expected) == ["a", "b"]  # "c" came with a page but was never kept
    assert expected["b"].stamp == "3 t2" and expected["b"].data == {"n": 2}
    assert cache.expected(C, "another page") is None  # not run before
    assert cache.expected("https://example.org/other.schema.json", "page") == {}


def test_a_document_kept_again_replaces_the_one_before() -> None:
    cache = DocumentCache(max_documents=10, max_pages=10)
    cache.put(C, "a", 1, "t1", {"n": 1})
    cache.put(C, "a", 2, "t2", {"n": 9})
    cache.answered("page", ("a",))
    assert cache.expected(C, "page")["a"].stamp == "2 t2"
    assert len(cache) == 1


def test_when_full_the_entries_made_first_go_first() -> None:
    cache = DocumentCache(max_documents=3, max_pages=2)
    for name in "abcd":
        cache.put(C, name, 1, "t", {})
    cache.answered("p1", ("a", "b", "c", "d"))
    assert list(cache.expected(C, "p1")) == ["b", "c", "d"]
    cache.answered("p2", ("b",))
    cache.answered("p3", ("c",))
    assert cache.expected(C, "p1") is None  # the oldest page went
    assert list(cache.expected(C, "p3")) == ["c"]


def test_a_cache_of_no_entries_keeps_nothing() -> None:
    cache = DocumentCache(max_documents=0, max_pages=0)
    cache.put(C, "a", 1, "t", {})
    cache.answered("page", ("a",))
    assert len(cache) == 0 and cache.expected(C, "page") is None
