"""The embedded store's search index and exact index answers: results equal the reference
evaluation through random writes, while a large index is built in slices, and whatever shape the
stored documents have."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for reference_eval

from reference_eval import evaluate

from gateway_core.query import Condition, ListQuery, Search
from gateway_core.storage import Delete, Put, StoredObject, tinydb_backend
from gateway_core.storage.indexes import AUTO_INDEX_AFTER
from gateway_core.storage.tinydb_backend import MemoryTable, TinyDBStore

THINGS = "https://example.org/schemas/thing.schema.json"
NOW = "2024-05-01T09:30:00.000000+00:00"
TEXTS = [
    "Jan Jansen",
    "jansen",
    "JANSSEN",
    "Straße 12",
    "STRASSE",
    "e-mail: a.b@example.nl",
    "Zoë Ünal",
    "ΣΊΣΥΦΟΣ",
    "İstanbul",
    "under_score",
    "12.5",
    "dossier 4711",
    "(c) x+y",
    "",
    "  spaced  out ",
    "Ǆemal",
]


def random_text(rng: random.Random) -> str:
    return rng.choice([rng.choice(TEXTS), f"{rng.choice(TEXTS)} {rng.randrange(100)}"])


def random_data(rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {"name": random_text(rng), "number": rng.randrange(5)}
    if rng.random() < 0.6:
        data["notes"] = [random_text(rng) for _ in range(rng.randrange(3))]
    if rng.random() < 0.6:
        data["address"] = {"street": random_text(rng), "flags": [True, None, 3.5]}
    return data


def terms(rng: random.Random, count: int) -> list[str]:
    found = []
    for _ in range(count):
        text = rng.choice(TEXTS)
        start = rng.randrange(len(text) + 1)
        piece = text[start : rng.randrange(start, len(text) + 1)] or text or "x"
        found.append(rng.choice([piece, piece.upper(), piece.lower(), piece.casefold()]))
    return [
        *found,
        "jan",
        "e-mail",
        "ss",
        "ß",
        "\u03c3",
        "i\u0307",
        " ",
        "-",
        "12",
        "zzz",
        "\u01c6",
    ]


def queries(term: str) -> list[ListQuery]:
    name = Condition("name", "eq", "jansen", "string", "name")
    return [
        ListQuery(search=Search(term, None), limit=1000),
        ListQuery(search=Search(term, None), limit=2, offset=1),
        ListQuery(search=Search(term, ("notes", "address.street")), limit=1000),
        ListQuery((name,), Search(term, None), limit=1000),
    ]


async def records(store: TinyDBStore) -> list[StoredObject]:
    return list((await store.query(THINGS, ListQuery(limit=10_000))).items)


async def assert_agrees(store: TinyDBStore, rng: random.Random) -> None:
    stored = await records(store)
    for term in terms(rng, 40):
        for query in queries(term):
            page = await store.query(THINGS, query)
            assert ([r.id for r in page.items], page.total) == evaluate(stored, query), query


def test_search_index_answers_as_the_reference_through_writes(tmp_path: Path) -> None:
    rng = random.Random(11)

    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: ["name"]}, gc_tuning=False)
        await store.write([Put(THINGS, obj(f"t{n}", random_data(rng))) for n in range(150)])
        assert store.search_index_ready(THINGS)
        await assert_agrees(store, rng)
        for _ in range(200):
            n = rng.randrange(200)
            change = rng.random()
            if change < 0.6:
                await store.write([Put(THINGS, obj(f"t{n}", random_data(rng)))])
            else:
                await store.write([Delete(THINGS, f"t{n}")])
        await assert_agrees(store, rng)
        await store.close()

    asyncio.run(scenario())


def test_a_large_index_is_built_in_slices_while_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    path = tmp_path / "db.json"

    async def fill() -> None:
        store = TinyDBStore(path, gc_tuning=False)
        await store.write([Put(THINGS, obj(f"t{n}", random_data(rng))) for n in range(120)])
        await store.close()

    asyncio.run(fill())
    monkeypatch.setattr(tinydb_backend, "TEXT_BUILD_AT_OPEN", 10)

    async def scenario() -> None:
        store = TinyDBStore(path, gc_tuning=False)
        text = store._texts[THINGS]
        assert not store.search_index_ready(THINGS) and not store.ready  # /health: "building"
        await assert_agrees(store, rng)  # scans meanwhile
        while not text.build_step(store._tables[THINGS], 7):
            n = rng.randrange(160)  # replaces and deletes on both sides of the build, creates
            if rng.random() < 0.7:
                await store.write([Put(THINGS, obj(f"t{n}", random_data(rng)))])
            else:
                await store.write([Delete(THINGS, f"t{n}")])
        assert store.search_index_ready(THINGS) and store.ready
        await assert_agrees(store, rng)
        await store.close()

    asyncio.run(scenario())


def obj(object_id: str, data: dict[str, Any]) -> StoredObject:
    return StoredObject(object_id, NOW, NOW, data)


def test_exact_answers_read_no_document_and_odd_shapes_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    selected: list[Any] = []
    original = MemoryTable.select

    def spy(self: MemoryTable, condition: Any, doc_ids: Any = None) -> Any:
        selected.append(None if doc_ids is None else list(doc_ids))
        return original(self, condition, doc_ids)

    monkeypatch.setattr(MemoryTable, "select", spy)
    path = "ids.objectId"
    bsn = Condition(path, "eq", "A1", "string", path, ("ids",))
    flag = Condition("flag", "eq", True, "boolean", "flag")

    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: [path, "flag"]}, gc_tuning=False)
        await store.write(
            [
                Put(THINGS, obj("a", {"ids": [{"objectId": "a1"}], "flag": True})),
                Put(THINGS, obj("b", {"ids": [{"objectId": "B2"}], "flag": 1})),
                Put(THINGS, obj("c", {"ids": [{"objectId": "A1"}], "flag": False})),
            ]
        )
        page = await store.query(THINGS, ListQuery((bsn,)))
        assert [r.id for r in page.items] == ["a", "c"] and selected == []
        page = await store.query(THINGS, ListQuery((bsn, flag)))  # True is not 1
        assert [r.id for r in page.items] == ["a"] and selected == []
        # an object where the schema has an array, arrays in arrays: the index over-reads them,
        # so its answers become candidates that the query checks
        await store.write(
            [
                Put(THINGS, obj("d", {"ids": {"objectId": "a1"}})),
                Put(THINGS, obj("e", {"ids": [[{"objectId": "a1"}]]})),
            ]
        )
        page = await store.query(THINGS, ListQuery((bsn,)))
        assert [r.id for r in page.items] == ["a", "c"] and selected[-1] is not None
        await store.write([Delete(THINGS, "d"), Delete(THINGS, "e")])
        selected.clear()
        assert (await store.query(THINGS, ListQuery((bsn,)))).total == 2 and selected == []
        await store.close()

    asyncio.run(scenario())


def test_no_automatic_index_on_a_path_that_does_not_narrow(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", gc_tuning=False)
        await store.write(
            [Put(THINGS, obj(f"t{n}", {"kind": "person", "code": f"c{n}"})) for n in range(300)]
        )
        kind = Condition("kind", "eq", "person", "string", "kind")
        for n in range(AUTO_INDEX_AFTER + 2):
            code = Condition("code", "eq", f"c{n}", "string", "code")
            page = await store.query(THINGS, ListQuery((code, kind)))
            assert [r.id for r in page.items] == [f"t{n}"]
        assert store.index_paths(THINGS) == {"code": True}
        await store.close()

    asyncio.run(scenario())
