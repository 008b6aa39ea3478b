"""Concurrent writes (gateway_core/write_locks.py): single-object writes run side by side, the
read-modify-write of one object stays serialised, writes that change other objects run alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
from conftest import valid_book
from servers import serving

from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings
from gateway_core.write_locks import WriteLocks


def test_shared_writers_overlap_and_one_object_is_serialised() -> None:
    async def run() -> tuple[int, list[str]]:
        locks = WriteLocks()
        inside, most, order = 0, 0, []

        async def writer(key: str, label: str) -> None:
            nonlocal inside, most
            async with locks.shared(), locks.one(key):
                inside += 1
                most = max(most, inside)
                order.append(f"{label}+")
                await asyncio.sleep(0.01)
                order.append(f"{label}-")
                inside -= 1

        await asyncio.gather(writer("a", "a1"), writer("b", "b1"), writer("a", "a2"))
        return most, order

    most, order = asyncio.run(run())
    assert most == 2  # a1 and b1 together; a2 waited for a1
    assert order.index("a1-") < order.index("a2+")


def test_an_exclusive_writer_runs_alone_and_is_not_starved() -> None:
    async def run() -> list[str]:
        locks = WriteLocks()
        events: list[str] = []

        async def shared(label: str, delay: float) -> None:
            await asyncio.sleep(delay)
            async with locks.shared():
                events.append(f"{label}+")
                await asyncio.sleep(0.02)
                events.append(f"{label}-")

        async def exclusive() -> None:
            await asyncio.sleep(0.005)
            async with locks.exclusive():
                events.append("x+")
                await asyncio.sleep(0.01)
                events.append("x-")

        await asyncio.gather(shared("s1", 0), exclusive(), shared("s2", 0.01))
        return events

    events = asyncio.run(run())
    assert events.index("s1-") < events.index("x+")  # waited for the shared writer inside
    assert events.index("x-") < events.index("s2+")  # a later shared writer waited behind it


def test_concurrent_patches_of_one_object_lose_nothing(tmp_path: Path, book_schemas: Path) -> None:
    settings = Settings(database=str(tmp_path / "db.json"), schemas=(str(book_schemas),))
    app = create_app(settings, load_gateway(settings, plugins=[]))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        books = [
            client.post("/api/book", json=valid_book(isbn=f"{9780000000000 + n}")).json()
            for n in range(3)
        ]

        def tag(book_id: str, number: int) -> int:
            with httpx.Client(base_url=url, timeout=30) as own:
                return own.patch(
                    f"/api/book/{book_id}",
                    json={"publisher": {"address": {"city": f"c{number}"}}, "tags": None}
                    if number == 0
                    else {"tags": None, "pages": number},
                ).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda n: tag(books[n % 3]["id"], n), range(30)))
        assert codes == [200] * 30
        for book in books:
            current = client.get(f"/api/book/{book['id']}").json()
            trail = client.get(f"/api/book/{book['id']}/audittrail", params={"_limit": 100}).json()
            # every PATCH made a version of its own: none read a version another one was writing
            assert current["_self"]["version"] == trail["total"]
            assert sorted(e["version"] for e in trail["results"]) == list(
                range(1, trail["total"] + 1)
            )
