"""Hash indexes: results equal to scans, case rules, upkeep on every write, the automatic rule."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings
from gateway_core.plugins import Plugin
from gateway_core.query import Condition, ListQuery
from gateway_core.schemas.formats import parse_date_time
from gateway_core.storage import Delete, Put, StoredObject
from gateway_core.storage.indexes import AUTO_INDEX_AFTER, AUTO_INDEX_MIN_OBJECTS, HashIndex
from gateway_core.storage.tinydb_backend import MemoryTable, TinyDBStore

THINGS = "https://example.org/schemas/thing.schema.json"
NOW = "2024-05-01T09:30:00.000000+00:00"
DECLARED = ["code", "owner.name", "ids.objectId", "tags", "size", "active", "deep.list.value"]

WORDS = [
    "Alpha",
    "alpha",
    "ALPHA",
    "beta",
    "Beta",
    "Straße",
    "STRASSE",
    "12",
    "12.0",
    "true",
    "1",
    "",
    "gamma",
]
NUMBERS: list[Any] = [0, 1, 1.0, 2, 12, -3, 2.5, True, False]


def obj(object_id: str, **data: Any) -> StoredObject:
    return StoredObject(object_id, NOW, NOW, data)


def random_value(rng: random.Random) -> Any:
    return rng.choice(
        [rng.choice(WORDS), rng.choice(NUMBERS), None, [rng.choice(WORDS), rng.choice(NUMBERS)]]
    )


def random_thing(rng: random.Random) -> dict[str, Any]:
    thing: dict[str, Any] = {}
    for name in ("code", "size", "active"):
        if rng.random() < 0.8:
            thing[name] = random_value(rng)
    if rng.random() < 0.8:
        thing["owner"] = {"name": random_value(rng)}
    if rng.random() < 0.8:
        thing["ids"] = [
            {"objectId": random_value(rng), "type": "bsn"} for _ in range(rng.randrange(3))
        ]
    if rng.random() < 0.8:
        thing["tags"] = [rng.choice(WORDS) for _ in range(rng.randrange(3))]
    if rng.random() < 0.5:
        thing["deep"] = [{"list": [{"value": random_value(rng)}]}]
    return thing


ARRAYS = {"ids.objectId": ("ids",), "tags": ("tags",), "deep.list.value": ("deep", "deep.list")}


def conditions() -> list[Condition]:
    found = []
    for path in DECLARED:
        arrays = ARRAYS.get(path, ())
        for word in ["alpha", "ALPHA", "Alpha", "strasse", "12", "true", "", "nothing"]:
            found.append(Condition(path, "eq", word, "string", path, arrays))
            found.append(Condition(path, "exact", word, "string", path, arrays))
        found.append(Condition(path, "in", ("beta", "GAMMA", "12"), "string", path, arrays))
        for number in [1, 12, 2.5, 0, -3]:
            found.append(Condition(path, "eq", number, "number", path, arrays))
        found.append(Condition(path, "in", (1, 2, 12.0), "number", path, arrays))
        found.append(Condition(path, "eq", True, "boolean", path, arrays))
        found.append(Condition(path, "exact", False, "boolean", path, arrays))
    return found


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


async def matching(store: TinyDBStore, query: ListQuery) -> tuple[list[str], int]:
    page = await store.query(THINGS, query)
    return [record.id for record in page.items], page.total


@pytest.fixture
def stores(tmp_path: Path) -> tuple[TinyDBStore, TinyDBStore]:
    indexed = TinyDBStore(tmp_path / "indexed.json", {THINGS: DECLARED}, gc_tuning=False)
    scanned = TinyDBStore(tmp_path / "scanned.json", gc_tuning=False, automatic_indexes=False)
    return indexed, scanned


async def write_both(stores: tuple[TinyDBStore, TinyDBStore], changes: list[Any]) -> None:
    for store in stores:
        await store.write(changes)


async def assert_same_results(indexed: TinyDBStore, scanned: TinyDBStore) -> None:
    assert set(indexed.index_paths(THINGS)) == set(DECLARED)
    assert scanned.index_paths(THINGS) == {}
    for condition in conditions():
        query = ListQuery((condition,), limit=1000)
        assert await matching(indexed, query) == await matching(scanned, query), condition
        paged = ListQuery(
            (condition, Condition("code", "ne", "beta", "string", "code")), limit=3, offset=1
        )
        assert await matching(indexed, paged) == await matching(scanned, paged), condition


def test_indexed_results_equal_scans_through_writes(
    stores: tuple[TinyDBStore, TinyDBStore],
) -> None:
    rng = random.Random(7)

    async def scenario() -> None:
        indexed, scanned = stores
        await write_both(
            stores, [Put(THINGS, obj(f"t{n}", **random_thing(rng))) for n in range(300)]
        )
        await assert_same_results(indexed, scanned)
        # replace, delete and re-create: the indexes follow every change
        changes: list[Any] = []
        for n in rng.sample(range(300), 120):
            changes.append(Put(THINGS, obj(f"t{n}", **random_thing(rng))))
        for n in rng.sample(range(300), 60):
            changes.append(Delete(THINGS, f"t{n}"))
        changes += [Put(THINGS, obj(f"new{n}", **random_thing(rng))) for n in range(40)]
        for change in changes:
            await write_both(stores, [change])
        await assert_same_results(indexed, scanned)
        for store in stores:
            await store.close()

    run(scenario)


def test_indexed_results_equal_scans_through_updates_of_single_properties(
    stores: tuple[TinyDBStore, TinyDBStore],
) -> None:
    """Updates that change one property at a time: every index follows."""
    rng = random.Random(11)
    names = ["code", "size", "active", "owner", "ids", "tags", "deep"]

    async def scenario() -> None:
        indexed, scanned = stores
        things = {f"t{n}": random_thing(rng) for n in range(200)}
        await write_both(stores, [Put(THINGS, obj(i, **t)) for i, t in things.items()])
        for _ in range(3):
            for object_id in rng.sample(sorted(things), 80):
                name = rng.choice(names)
                things[object_id] = {**things[object_id], name: random_thing(rng).get(name)}
                await write_both(stores, [Put(THINGS, obj(object_id, **things[object_id]))])
            await assert_same_results(indexed, scanned)
        for store in stores:
            await store.close()

    run(scenario)


def test_an_update_to_another_json_type_moves_the_index_entry(tmp_path: Path) -> None:
    """1 and True, 12 and 12.0 are equal in Python; the index keeps booleans apart, so an update
    from one to the other is an index change."""

    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: ["size", "owner.name"]}, gc_tuning=False)

        async def found(path: str, kind: str, value: Any) -> list[str]:
            condition = Condition(path, "eq", value, kind, path)
            return [r.id for r in (await store.query(THINGS, ListQuery((condition,)))).items]

        await store.write([Put(THINGS, obj("a", size=1, owner={"name": True}))])
        await store.write([Put(THINGS, obj("a", size=True, owner={"name": True}))])
        assert await found("size", "boolean", True) == ["a"]
        assert await found("size", "number", 1) == []
        await store.write([Put(THINGS, obj("a", size=True, owner={"name": 1}))])
        assert await found("owner.name", "number", 1) == ["a"]
        assert await found("owner.name", "boolean", True) == []
        await store.close()

    run(scenario)


def test_indexes_are_rebuilt_on_open(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "db.json"

    async def scenario() -> None:
        store = TinyDBStore(path, gc_tuning=False)
        await store.write([Put(THINGS, obj(f"t{n}", **random_thing(rng))) for n in range(200)])
        await store.close()
        indexed = TinyDBStore(path, {THINGS: DECLARED}, gc_tuning=False)
        scanned = TinyDBStore(tmp_path / "copy.json", gc_tuning=False, automatic_indexes=False)
        await scanned.write(
            [
                Put(THINGS, record)
                for record in (await indexed.query(THINGS, ListQuery(limit=1000))).items
            ]
        )
        await assert_same_results(indexed, scanned)
        await indexed.close()
        await scanned.close()

    run(scenario)


def test_case_rules(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TinyDBStore(
            tmp_path / "db.json", {THINGS: ["name", "ids.objectId"]}, gc_tuning=False
        )
        await store.write(
            [
                Put(THINGS, obj("a", name="Straße", ids=[{"objectId": "ABC"}, {"objectId": "x"}])),
                Put(THINGS, obj("b", name="STRASSE", ids=[{"objectId": "abc"}])),
                Put(THINGS, obj("c", name="strasse", ids=[])),
            ]
        )

        async def found(
            path: str, operator: str, value: Any, arrays: tuple[str, ...] = ()
        ) -> list[str]:
            condition = Condition(path, operator, value, "string", path, arrays)
            return [r.id for r in (await store.query(THINGS, ListQuery((condition,)))).items]

        assert await found("name", "eq", "strasse") == ["a", "b", "c"]  # casefold: ß == ss
        assert await found("name", "exact", "STRASSE") == ["b"]  # case-sensitive
        assert await found("name", "in", ("STRAßE", "none")) == ["a", "b", "c"]
        assert await found("ids.objectId", "eq", "abc", ("ids",)) == ["a", "b"]
        assert await found("ids.objectId", "exact", "ABC", ("ids",)) == ["a"]
        assert await found("ids.objectId", "in", ("X",), ("ids",)) == ["a"]
        await store.close()

    run(scenario)


def test_numbers_by_value_and_booleans(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: ["size", "active"]}, gc_tuning=False)
        await store.write(
            [
                Put(THINGS, obj("int", size=12, active=True)),
                Put(THINGS, obj("float", size=12.0, active=False)),
                Put(THINGS, obj("one", size=1, active=1)),
            ]
        )

        async def found(path: str, kind: str, value: Any) -> list[str]:
            condition = Condition(path, "eq", value, kind, path)
            return [r.id for r in (await store.query(THINGS, ListQuery((condition,)))).items]

        assert await found("size", "number", 12) == ["int", "float"]
        assert await found("size", "number", 1) == ["one"]
        assert await found("active", "boolean", True) == ["int"]  # 1 is no boolean
        # a text reading as a number matches number filters: the index steps aside, a scan finds it
        await store.write([Put(THINGS, obj("text", size="12"))])
        assert await found("size", "number", 12) == ["int", "float", "text"]
        await store.close()

    run(scenario)


def test_the_index_follows_puts_replaces_and_deletes(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: ["ids.objectId"]}, gc_tuning=False)
        index: HashIndex = store._indexes[THINGS].indexes["ids.objectId"]
        await store.write(
            [Put(THINGS, obj("a", ids=[{"objectId": "X1"}, {"objectId": "x1"}, {"objectId": "Y"}]))]
        )
        await store.write([Put(THINGS, obj("b", ids=[{"objectId": "y"}]))])
        assert index.slots == {"x1": 1, "y": {1, 2}}
        await store.write([Put(THINGS, obj("a", ids=[{"objectId": "Z"}]))])  # replace
        assert index.slots == {"z": 1, "y": 2}
        await store.write([Delete(THINGS, "b")])
        assert index.slots == {"z": 1}
        await store.write([Delete(THINGS, "a")])
        assert index.slots == {}
        await store.close()

    run(scenario)


def test_an_indexed_query_runs_the_full_query_on_the_candidates_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = MemoryTable.select

    def spy(self: MemoryTable, condition: Any, doc_ids: Any = None) -> Any:
        seen.append(None if doc_ids is None else list(doc_ids))
        return original(self, condition, doc_ids)

    monkeypatch.setattr(MemoryTable, "select", spy)

    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", {THINGS: ["ids.objectId"]}, gc_tuning=False)
        await store.write(
            [
                Put(
                    THINGS,
                    obj(f"t{n}", ids=[{"objectId": f"{n:09d}", "type": "bsn" if n % 2 else "kvk"}]),
                )
                for n in range(100)
            ]
        )
        bsn = Condition("ids.objectId", "eq", "000000007", "string", "p", ("ids",))
        kind = Condition("ids.type", "eq", "bsn", "string", "q", ("ids",))
        page = await store.query(THINGS, ListQuery((bsn, kind)))
        assert [r.id for r in page.items] == ["t7"] and seen == [[8]]
        page = await store.query(
            THINGS, ListQuery((bsn, Condition("ids.type", "eq", "kvk", "string", "q", ("ids",))))
        )
        assert page.total == 0 and seen[-1] == [8]  # the candidate fails the full query
        await store.query(THINGS, ListQuery((kind,)))
        assert seen[-1] is None  # no index on ids.type: a scan
        await store.close()

    run(scenario)


def test_automatic_index_after_repeated_filters_on_a_large_collection(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = TinyDBStore(tmp_path / "db.json", gc_tuning=False)
        small = "https://example.org/schemas/small.schema.json"
        await store.write(
            [
                Put(THINGS, obj(f"t{n}", code=f"C{n}", when=NOW))
                for n in range(AUTO_INDEX_MIN_OBJECTS + 1)
            ]
        )
        await store.write(
            [Put(small, obj(f"s{n}", code=f"C{n}")) for n in range(AUTO_INDEX_MIN_OBJECTS)]
        )
        code = Condition("code", "eq", "c5", "string", "code")
        moment = Condition("when", "eq", parse_date_time(NOW), "date-time", "when")  # never indexed
        for use in range(1, AUTO_INDEX_AFTER + 2):
            page = await store.query(THINGS, ListQuery((code, moment)))
            assert [r.id for r in page.items] == ["t5"]
            await store.query(small, ListQuery((code,)))
            expected = {"code": True} if use >= AUTO_INDEX_AFTER else {}
            assert store.index_paths(THINGS) == expected, use
        assert store.index_paths(small) == {}  # not more than 1,000 objects
        await store.write([Put(THINGS, obj("late", code="c5"))])  # kept up to date like any index
        assert (await store.query(THINGS, ListQuery((code,)))).total == 2
        await store.close()

    run(scenario)


def test_manifest_indexes_reach_the_store(tmp_path: Path, book_schemas: Path) -> None:
    manifest = tmp_path / "plugin" / "installation.json"
    manifest.parent.mkdir()
    book = "https://example.org/schemas/book.schema.json"
    manifest.write_text(json.dumps({"indexes": {book: ["publisher.name", "chapters.title"]}}))
    plugin = Plugin("indexed", "Indexed books", schema_dirs=(book_schemas,), manifest=manifest)
    settings = Settings(database=str(tmp_path / "db.json"))
    app = create_app(settings, load_gateway(settings, plugins=[plugin]))
    store = app.state.service.store
    assert store.index_paths(book) == {"publisher.name": False, "chapters.title": False}
    run(store.close)
