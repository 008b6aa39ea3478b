"""The PostgreSQL backend's connection pool (storage/pg_pool.py), on the session's cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from gateway_core.storage.pg_pool import Connection, ConnectionPool, PoolUnavailable


@pytest.fixture
def url(postgresql_cluster: Any) -> Iterator[str]:
    borrowed: str = postgresql_cluster.borrow_database()
    try:
        yield borrowed
    finally:
        postgresql_cluster.return_database(borrowed)


class Opener:
    """Opens connections to `url` and counts them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened = 0

    async def __call__(self) -> Connection:
        self.opened += 1
        return await asyncpg.connect(self.url)


def counted_pool(url: str, max_size: int) -> tuple[Opener, ConnectionPool]:
    """A pool over an opener that counts the connections it opened."""
    opener = Opener(url)
    return opener, ConnectionPool(opener, max_size=max_size, timeout=10)


async def backend_pid(pool: ConnectionPool) -> int:
    async with pool.connection() as connection:
        return int(await connection.fetchval("SELECT pg_backend_pid()"))


def test_many_callers_share_at_most_max_size_connections(url: str) -> None:
    async def scenario() -> None:
        opener, pool = counted_pool(url, 3)
        pids = await asyncio.gather(*(backend_pid(pool) for _ in range(40)))
        assert opener.opened <= 3 and len(set(pids)) <= 3
        await pool.close()

    asyncio.run(scenario())


def test_a_caller_waits_no_longer_than_the_timeout(url: str) -> None:
    async def scenario() -> None:
        pool = ConnectionPool(Opener(url), max_size=1, timeout=0.2)
        async with pool.connection():
            with pytest.raises(PoolUnavailable, match=r"within 0\.2 s"):
                async with pool.connection():
                    pass
        assert await backend_pid(pool) > 0  # the held connection came back
        await pool.close()

    asyncio.run(scenario())


def test_a_broken_connection_is_replaced(url: str) -> None:
    async def scenario() -> None:
        opener, pool = counted_pool(url, 1)
        first = await backend_pid(pool)
        killer = await asyncpg.connect(url)
        try:
            await killer.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await killer.close()
        with pytest.raises(
            (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
        ):
            await backend_pid(pool)  # the request on the killed connection fails ...
        assert await backend_pid(pool) != first  # ... the next gets a new one
        assert opener.opened == 2
        await pool.close()

    asyncio.run(scenario())


def test_a_connection_left_in_a_transaction_is_not_handed_out_again(url: str) -> None:
    async def scenario() -> None:
        pool = ConnectionPool(Opener(url), max_size=1, timeout=10)
        async with pool.connection() as connection:
            await connection.execute("BEGIN")
            await connection.execute("CREATE TEMPORARY TABLE half_done (x int)")
            left = connection
        assert left.is_closed()
        async with pool.connection() as connection:
            assert await connection.fetchval("SELECT to_regclass('pg_temp.half_done')") is None
        await pool.close()

    asyncio.run(scenario())


def test_a_waiter_that_gives_up_does_not_take_a_connection_with_it(url: str) -> None:
    async def scenario() -> None:
        opener, pool = counted_pool(url, 1)

        async def wait_for_one() -> None:
            async with pool.connection():
                await asyncio.sleep(10)

        async with pool.connection():
            waiter = asyncio.create_task(wait_for_one())
            await asyncio.sleep(0.05)
            waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        pid = await asyncio.wait_for(backend_pid(pool), 2)  # free again, no new connection
        assert pid > 0 and opener.opened == 1
        await pool.close()

    asyncio.run(scenario())


def test_a_closed_pool_refuses_and_closes_what_comes_back(url: str) -> None:
    async def scenario() -> None:
        pool = ConnectionPool(Opener(url), max_size=2, timeout=10)
        async with pool.connection() as held:
            await pool.close()
            with pytest.raises(PoolUnavailable, match="closed"):
                async with pool.connection():
                    pass
        assert held.is_closed()

    asyncio.run(scenario())


def test_a_refused_statement_keeps_the_connection_and_a_cancelled_one_drops_it(url: str) -> None:
    async def scenario() -> None:
        opener, pool = counted_pool(url, 1)
        first = await backend_pid(pool)
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with pool.connection() as connection:
                await connection.fetchval("SELECT 1 / 0")
        assert await backend_pid(pool) == first and opener.opened == 1

        async def slow() -> None:
            async with pool.connection() as connection:
                await connection.execute("SELECT pg_sleep(10)")

        sleeper = asyncio.create_task(slow())
        await asyncio.sleep(0.2)
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        assert await asyncio.wait_for(backend_pid(pool), 2) != first  # a new connection
        assert opener.opened == 2
        await pool.close()

    asyncio.run(scenario())
