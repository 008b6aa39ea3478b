"""The PostgreSQL backend: the `Store` protocol on one `objects` table (JSONB documents).

Selected by a `postgresql://user@host:port/database` database setting. Several gateway
processes (`gateway serve --workers N`, or several machines) may share one database: every write
batch is one transaction, committed before `write` returns, and the creation order is a sequence.

The tables, indexes and the value-reading SQL functions are created on first use (idempotent,
under an advisory lock, skipped when `gateway_meta` already has the current schema version). The
query compiler and the schema are in postgresql_sql.py; docs/postgresql.md is the user's guide.

psycopg (3) is imported here and in pg_pool.py only: the embedded backend does without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb, set_json_loads

from gateway_core.errors import BadRequest, InvalidParam, ServiceUnavailable, StoreError
from gateway_core.query import Condition, ListQuery
from gateway_core.storage.base import Change, Delete, Page, Put, StoredObject
from gateway_core.storage.pg_pool import Connection, ConnectionPool, PoolUnavailable
from gateway_core.storage.postgresql_sql import (
    Compiled,
    compile_order,
    compile_where,
    folded_document,
    schema_statements,
    schema_version,
    search_index_statements,
)

log = logging.getLogger("gateway.storage")

SCHEMES = ("postgresql://", "postgres://")
_LOCK_KEY = 0x6761_7465_7761_79  # pg_advisory_xact_lock key for creating the schema ("gateway")
_UPSERT = """
    INSERT INTO objects (collection, id, created, modified, data, folded, owner, version)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (collection, id) DO UPDATE SET
        created = EXCLUDED.created, modified = EXCLUDED.modified,
        data = EXCLUDED.data, folded = EXCLUDED.folded,
        owner = EXCLUDED.owner, version = EXCLUDED.version
"""
_DELETE = "DELETE FROM objects WHERE collection = %s AND id = %s"
_COLUMNS = "o.id, o.created, o.modified, o.data, o.owner, o.version"
_POOL_TIMEOUT = 30.0  # seconds a request waits for a free connection (then 503)


def is_postgresql_url(database: str) -> bool:
    return database.startswith(SCHEMES)


def redacted_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=orjson.dumps)


def _row(columns: Sequence[Any]) -> StoredObject:
    object_id, created, modified, data, owner, version = columns
    return StoredObject(object_id, created, modified, data, owner, version)


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, connection)


class PostgreSQLStore:
    """The `Store` on PostgreSQL (psycopg 3, a pool of connections opened on first use).

    `indexes` (manifest-declared paths) needs nothing here: one GIN index over the folded
    documents serves equality and `in` filters on every path (see postgresql_sql.py)."""

    def __init__(
        self,
        url: str,
        indexes: Mapping[str, Sequence[str]] | None = None,
        *,
        max_size: int = 10,
        query_timeout: float | None = None,
    ) -> None:
        if not is_postgresql_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redacted_url(url)!r}")
        self.url = url
        self._query_timeout = query_timeout
        self._max_size = max_size
        self._pool: ConnectionPool | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False

    # -- connections ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create the schema when missing (done by the first call of any method)."""
        await self._ready()

    async def _ready(self) -> ConnectionPool:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StoreError(f"{redacted_url(self.url)}: the store is closed")
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                pool = ConnectionPool(self._connect, self._max_size, _POOL_TIMEOUT)
                try:
                    # one plain connection first: a wrong URL fails at once, with the reason
                    connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                    async with connection:
                        await self._create_schema(connection)
                    async with pool.connection():  # the pool's first, configured connection
                        pass
                except Exception as error:
                    await pool.close()
                    raise StoreError(
                        f"cannot use the PostgreSQL database {redacted_url(self.url)}: {error}"
                    ) from None
                self._pool = pool
        return self._pool

    async def _connect(self) -> Connection:
        connection = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, row_factory=tuple_row, options=self._session_options()
        )
        await _configure(connection)
        return connection

    def _session_options(self) -> str | None:
        """Every statement of a pooled connection is bounded by the query timeout."""
        if not self._query_timeout:
            return None
        return f"-c statement_timeout={int(self._query_timeout * 1000)}"

    @staticmethod
    async def _create_schema(connection: psycopg.AsyncConnection[Any]) -> None:
        encoding = await (await connection.execute("SHOW server_encoding")).fetchone()
        if encoding is None or encoding[0].upper() not in ("UTF8", "UTF-8"):
            raise StoreError(f"the database must use the UTF8 encoding, not {encoding}")
        version = schema_version()
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cursor = await connection.execute("SELECT to_regclass('gateway_meta') IS NOT NULL")
            exists = await cursor.fetchone()
            if exists is not None and exists[0]:
                cursor = await connection.execute(
                    "SELECT value FROM gateway_meta WHERE name = 'schema'"
                )
                current = await cursor.fetchone()
                if current is not None and current[0] == version:
                    return
            for statement in schema_statements():
                await connection.execute(statement.encode())
            try:
                async with connection.transaction():  # a savepoint: its failure undoes it alone
                    for statement in search_index_statements():
                        await connection.execute(statement.encode())
            except psycopg.Error as error:
                log.warning("no trigram index for _search (pg_trgm): %s; _search scans", error)
            # statistics for columns an upgrade added: without them the planner walks the
            # creation order for a `_search` rather than asking the trigram index
            await connection.execute("ANALYZE objects")
            await connection.execute(
                "INSERT INTO gateway_meta VALUES ('schema', %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (version,),
            )

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        pool = await self._ready()
        try:
            async with pool.connection() as connection:
                yield connection
        except (psycopg.OperationalError, PoolUnavailable) as error:
            raise StoreError(f"PostgreSQL ({redacted_url(self.url)}): {error}") from None

    # -- the Store protocol -------------------------------------------------------------------------

    @property
    def generation(self) -> None:
        return None  # other workers and processes write the same database

    @property
    def ready(self) -> bool:
        return True

    async def get(self, collection: str, object_id: str) -> StoredObject | None:
        async with self._connection() as connection:
            cursor = await connection.execute(
                f"SELECT {_COLUMNS} FROM objects o WHERE o.collection = %s AND o.id = %s",
                (collection, object_id),
            )
            row = await cursor.fetchone()
        return _row(row) if row is not None else None

    async def write(self, changes: Sequence[Change]) -> None:
        """One transaction; consecutive puts (and deletes) go to the server as one pipeline."""
        if not changes:
            return
        groups: list[tuple[str, list[tuple[Any, ...]]]] = []
        for change in changes:
            if isinstance(change, Put):
                obj = change.obj
                params: tuple[Any, ...] = (
                    change.collection,
                    obj.id,
                    obj.created,
                    obj.modified,
                    _jsonb(obj.data),
                    _jsonb(folded_document(obj.id, obj.created, obj.modified, obj.data, obj.owner)),
                    obj.owner,
                    obj.version,
                )
                statement = _UPSERT
            elif isinstance(change, Delete):
                params, statement = (change.collection, change.object_id), _DELETE
            else:
                raise StoreError(f"not a change: {change!r}")
            if groups and groups[-1][0] is statement:
                groups[-1][1].append(params)
            else:
                groups.append((statement, [params]))
        async with self._connection() as connection:
            try:
                async with connection.transaction(), connection.cursor() as cursor:
                    for statement, rows in groups:
                        await cursor.executemany(statement, rows)
            except (TypeError, orjson.JSONEncodeError) as error:
                raise StoreError(f"the change cannot be stored as JSON: {error}") from None
            except psycopg.DataError as error:
                raise StoreError(f"PostgreSQL refused the change: {error}") from None

    async def query(self, collection: str, query: ListQuery) -> Page:
        sql = Compiled()
        where = compile_where(sql, collection, query)
        where_params = list(sql.params)
        order = compile_order(sql, query)
        page_sql = (
            f"SELECT {_COLUMNS} FROM objects o WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        )
        async with self._connection() as connection:
            try:
                cursor = await connection.execute(
                    page_sql.encode(), [*sql.params, query.limit, query.offset]
                )
                rows = await cursor.fetchall()
                if 0 < len(rows) < query.limit or (not rows and query.offset == 0):
                    total = query.offset + len(rows)
                else:
                    cursor = await connection.execute(
                        f"SELECT count(*) FROM objects o WHERE {where}".encode(), where_params
                    )
                    counted = await cursor.fetchone()
                    total = counted[0] if counted else 0
            except pg_errors.InvalidRegularExpression as error:
                raise _regex_refused(query, error) from None
            except pg_errors.QueryCanceled:
                raise ServiceUnavailable(
                    f"The query ran longer than the limit of {self._query_timeout} s and was "
                    "stopped; narrow it with more selective filters.",
                    headers={"Retry-After": "1"},
                ) from None
            except psycopg.DataError as error:
                raise BadRequest(f"PostgreSQL cannot evaluate this query: {error}") from None
        return Page([_row(row) for row in rows], total)

    async def stream(
        self, collection: str, query: ListQuery, chunk: int = 1_000
    ) -> AsyncIterator[StoredObject]:
        """Every match of `query` (its window too), in its order, through a server-side cursor."""
        sql = Compiled()
        where = compile_where(sql, collection, query)
        order = compile_order(sql, query)
        statement = (
            f"SELECT {_COLUMNS} FROM objects o WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        )
        async with self._connection() as connection, connection.transaction():
            cursor = connection.cursor(name="gateway_stream")
            try:
                await cursor.execute(statement.encode(), [*sql.params, query.limit, query.offset])
                while rows := await cursor.fetchmany(chunk):
                    for row in rows:
                        yield _row(row)
            except pg_errors.QueryCanceled:
                raise ServiceUnavailable(
                    f"The export ran longer than the limit of {self._query_timeout} s per step.",
                    headers={"Retry-After": "1"},
                ) from None
            finally:
                await cursor.close()

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Held by one process per database at a time (a session advisory lock on a connection
        of its own): the others wait here, checking every few seconds."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        pool = await self._ready()
        async with pool.connection() as connection:
            while True:
                cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                held = await cursor.fetchone()
                if held is not None and held[0]:
                    break
                await asyncio.sleep(3)
            try:
                yield
            finally:
                with contextlib.suppress(psycopg.Error):
                    await connection.execute("SELECT pg_advisory_unlock(%s)", (key,))

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- whole-database access (gateway migrate) ------------------------------------------------------

    async def collections(self) -> dict[str, int]:
        """Every collection -> its number of objects, in order of first creation."""
        async with self._connection() as connection:
            cursor = await connection.execute(
                "SELECT collection, count(*) FROM objects GROUP BY collection ORDER BY min(seq)"
            )
            return {name: count for name, count in await cursor.fetchall()}

    async def export(self, collection: str, chunk: int = 2_000) -> AsyncIterator[StoredObject]:
        """Every object of `collection` in creation order (streamed by a server-side cursor)."""
        async with self._connection() as connection, connection.transaction():
            cursor = connection.cursor(name="gateway_export")
            await cursor.execute(
                f"SELECT {_COLUMNS} FROM objects o WHERE o.collection = %s ORDER BY o.seq",
                (collection,),
            )
            while rows := await cursor.fetchmany(chunk):
                for row in rows:
                    yield _row(row)
            await cursor.close()

    async def import_all(
        self,
        objects: Iterable[tuple[str, StoredObject]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Copy `objects` (collection, object), in order, into an EMPTY database in one
        transaction (COPY): all or nothing. Returns how many were copied."""
        count = 0
        async with self._connection() as connection, connection.transaction():
            await connection.execute("LOCK TABLE objects IN EXCLUSIVE MODE")
            cursor = await connection.execute("SELECT EXISTS (SELECT 1 FROM objects)")
            found = await cursor.fetchone()
            if found is not None and found[0]:
                raise StoreError(
                    f"{redacted_url(self.url)} already holds objects: migrate into an empty database"
                )
            async with connection.cursor().copy(
                "COPY objects (collection, id, created, modified, data, folded, owner, version) "
                "FROM STDIN"
            ) as copy:
                for collection, obj in objects:
                    folded = folded_document(obj.id, obj.created, obj.modified, obj.data, obj.owner)
                    await copy.write_row(
                        (
                            collection,
                            obj.id,
                            obj.created,
                            obj.modified,
                            orjson.dumps(obj.data).decode(),
                            orjson.dumps(folded).decode(),
                            obj.owner,
                            obj.version,
                        )
                    )
                    count += 1
                    if progress is not None:
                        progress(count)
        return count


def _regex_refused(query: ListQuery, error: Exception) -> BadRequest:
    """PostgreSQL's regular expressions (POSIX ARE) lack some of Python's syntax."""
    params = [
        InvalidParam(
            condition.parameter,
            "regex",
            f"is not a regular expression PostgreSQL accepts ({error}); see docs/postgresql.md",
        )
        for condition in query.conditions
        if isinstance(condition, Condition) and condition.operator == "regex"
    ]
    names = ", ".join(repr(param.name) for param in params) or "a regular expression"
    return BadRequest(
        f"Query parameter {names} is not a regular expression PostgreSQL accepts: {error}",
        invalid_params=params,
    )
