"""The PostgreSQL backend's connections: at most `max_size` open, handed out in turn.

The pools of the client libraries do more per call than the gateway needs: psycopg_pool's
AsyncConnectionPool (used before asyncpg) cost about twice the CPU of handing out connections from
a list, and asyncpg's own Pool resets every connection it gets back with a round trip to the server
(docs/performance.md, "PostgreSQL, where the time goes"); with one worker that CPU is what limits
the PostgreSQL backend. This pool does less: no background workers, no idle-time or lifetime
limits, no reset (the store leaves no temporary tables or LISTEN behind, and the one setting it
changes, `plan_cache_mode`, is tracked on the connection itself: postgresql.py's `_Session`).
A connection that comes back closed, inside a transaction or after any error but a statement the
server refused is closed, and a new one is opened when needed, so a restarted server costs the
requests that were using the old connections, not the ones after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

Connection = asyncpg.Connection


class PoolUnavailable(Exception):
    """No connection became free within the pool's timeout, or the pool is closed."""


class ConnectionPool:
    def __init__(
        self, connect: Callable[[], Awaitable[Connection]], max_size: int, timeout: float
    ) -> None:
        self._connect = connect
        self.max_size = max_size
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._opened = 0  # connections open or being opened
        self._waiting: deque[asyncio.Future[Connection]] = deque()
        self._openers: set[asyncio.Task[None]] = set()  # referenced until done
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        connection = await self._acquire()
        try:
            yield connection
        except asyncpg.PostgresError:
            self._release(connection)  # the server refused a statement: the connection is sound
            raise
        except BaseException:
            # lost, cancelled mid-statement or confused (asyncpg's InternalClientError after the
            # server ended the session): its state is unknown, so it is not handed out again
            self._discard(connection)
            raise
        else:
            self._release(connection)

    async def _acquire(self) -> Connection:
        if self._closed:
            raise PoolUnavailable("the pool is closed")
        if self._idle:
            return self._idle.pop()
        if self._opened < self.max_size:
            return await self._open()
        waiter: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except TimeoutError:
            raise PoolUnavailable(
                f"no database connection became free within {self.timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(waiter.result())  # handed over just as the caller gave up
            raise

    async def _open(self) -> Connection:
        self._opened += 1
        try:
            return await self._connect()
        except BaseException:
            self._opened -= 1
            raise

    def _release(self, connection: Connection) -> None:
        if self._closed or connection.is_closed() or connection.is_in_transaction():
            self._discard(connection)
        else:
            self._give_back(connection)

    def _discard(self, connection: Connection) -> None:
        self._opened -= 1
        connection.terminate()  # no goodbye to the server: it may be gone or mid-statement
        self._open_for_next_waiter()

    def _give_back(self, connection: Connection) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _open_for_next_waiter(self) -> None:
        """A connection was closed: open one for whoever waits (if anyone still does)."""
        while self._waiting and not self._closed:
            waiter = self._waiting.popleft()
            if not waiter.done():
                opener = asyncio.get_running_loop().create_task(self._open_for(waiter))
                self._openers.add(opener)
                opener.add_done_callback(self._openers.discard)
                return

    async def _open_for(self, waiter: asyncio.Future[Connection]) -> None:
        try:
            connection = await self._open()
        except Exception as error:
            if not waiter.done():
                waiter.set_exception(error)
            return
        if waiter.done():
            self._give_back(connection)
        else:
            waiter.set_result(connection)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._opened -= 1
            await connection.close(timeout=5)
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(PoolUnavailable("the pool is closed"))
