"""The PostgreSQL backend: the `Store` protocol on one `objects` table (JSONB documents).

Selected by a `postgresql://user@host:port/database` database setting. Several gateway
processes (`gateway serve --workers N`, or several machines) may share one database: every write
batch is one transaction, committed before `write` returns, and the creation order is a sequence.

The tables, indexes and the value-reading SQL functions are created on first use (idempotent,
under an advisory lock, skipped when `gateway_meta` already has the current schema version). The
query compiler and the schema are in postgresql_sql.py; docs/postgresql.md is the user's guide.

asyncpg is imported here and in pg_pool.py only: the embedded backend does without it. It took
about a third of psycopg 3's CPU per statement in the gateway process (docs/performance.md), and
with one worker that CPU is what limits this backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from gateway_core.errors import BadRequest, InvalidParam, ServiceUnavailable, StoreError
from gateway_core.query import Condition, ListQuery
from gateway_core.storage.base import Change, Delete, Page, Put, StoredObject
from gateway_core.storage.pg_counts import COUNT_CACHE_ENTRIES, COUNT_MAX_AGE, CountCache
from gateway_core.storage.pg_documents import DocumentCache, KeptDocument
from gateway_core.storage.pg_pool import Connection, ConnectionPool, PoolUnavailable
from gateway_core.storage.postgresql_sql import (
    GIN_INDEXES,
    Compiled,
    compile_order,
    compile_where,
    folded_document,
    generation_advance,
    generation_read,
    plan_once,
    schema_statements,
    schema_version,
    search_index_statements,
)

log = logging.getLogger("gateway.storage")

SCHEMES = ("postgresql://", "postgres://")
_LOCK_KEY = 0x6761_7465_7761_79  # pg_advisory_xact_lock key for creating the schema ("gateway")
_UPSERT = """
    INSERT INTO objects (collection, id, created, modified, data, folded, owner, version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (collection, id) DO UPDATE SET
        created = EXCLUDED.created, modified = EXCLUDED.modified,
        data = EXCLUDED.data, folded = EXCLUDED.folded,
        owner = EXCLUDED.owner, version = EXCLUDED.version
"""
_DELETE = "DELETE FROM objects WHERE collection = $1 AND id = $2"
_COLUMNS_WITH = "o.id, o.created, o.modified, {data}, o.owner, o.version"
_COLUMNS = _COLUMNS_WITH.format(data="o.data")
# the document unless the caller holds it (pg_documents.py): `{stamp}` is the SQL of the kept
# document's "version modified", NULL when none is kept
_DATA_UNLESS_KEPT = (
    "CASE WHEN o.version::text || ' ' || o.modified = {stamp} THEN NULL ELSE o.data END"
)
_COPIED = ("collection", "id", "created", "modified", "data", "folded", "owner", "version")
_POOL_TIMEOUT = 30.0  # seconds a request waits for a free connection (then 503)
# the server could not be reached or dropped the connection (asyncpg raises OSError for a refused
# or unresolvable address, its own classes for a lost connection or a refused login)
_UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. the first statement after the server ended the session
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    PoolUnavailable,
)


def is_postgresql_url(database: str) -> bool:
    return database.startswith(SCHEMES)


def redacted_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _row(record: asyncpg.Record) -> StoredObject:
    """The object of a row that starts with `_COLUMNS`."""
    return StoredObject(record[0], record[1], record[2], record[3], record[4], record[5])


def _digest(text: bytes) -> bytes:
    return hashlib.blake2b(text, digest_size=16).digest()


def _stored_columns(obj: StoredObject, folded: Any) -> tuple[Any, ...]:
    """The columns of `obj` after its collection, in the order of _COPIED and _UPSERT."""
    return (obj.id, obj.created, obj.modified, obj.data, folded, obj.owner, obj.version)


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary format: a version byte, then the text


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _configure(connection: asyncpg.Connection) -> None:
    """jsonb parameters and columns as Python values, (de)serialised by orjson; binary, so that
    COPY (gateway migrate) takes them too."""
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )


class _Session(asyncpg.Connection):
    """A pooled connection that remembers its `plan_cache_mode`, so that a statement sets it
    only when it needs the other one (one round trip per switch, not per statement)."""

    __slots__ = ("generic_plans",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generic_plans = False  # the server's default: `auto`


async def _plan_mode(connection: asyncpg.Connection, generic: bool) -> None:
    assert isinstance(connection, _Session)
    if connection.generic_plans != generic:
        mode = "force_generic_plan" if generic else "auto"
        await connection.execute(f"SET plan_cache_mode = {mode}")
        connection.generic_plans = generic


class PostgreSQLStore:
    """The `Store` on PostgreSQL (asyncpg, a pool of connections opened on first use).

    `indexes` (manifest-declared paths) needs nothing here: one GIN index over the folded
    documents serves equality and `in` filters on every path (see postgresql_sql.py)."""

    def __init__(
        self,
        url: str,
        indexes: Mapping[str, Sequence[str]] | None = None,
        *,
        max_size: int = 10,
        query_timeout: float | None = None,
        count_cache_entries: int = COUNT_CACHE_ENTRIES,
        count_max_age: float = COUNT_MAX_AGE,
    ) -> None:
        if not is_postgresql_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redacted_url(url)!r}")
        self.url = url
        self._query_timeout = query_timeout
        self._max_size = max_size
        self._pool: ConnectionPool | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        self._counts = CountCache(count_cache_entries, count_max_age)
        self._counting: dict[tuple[bytes, int], asyncio.Future[int | None]] = {}  # counts under way
        self._documents = DocumentCache()

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
                    connection = await asyncpg.connect(self.url)
                    try:
                        await self._create_schema(connection)
                    finally:
                        await connection.close()
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
        connection = await asyncpg.connect(
            self.url, server_settings=self._session_settings(), connection_class=_Session
        )
        try:
            await _configure(connection)
        except BaseException:
            await connection.close()
            raise
        return connection

    def _session_settings(self) -> dict[str, str]:
        """Every statement of a pooled connection is bounded by the query timeout."""
        if not self._query_timeout:
            return {}
        return {"statement_timeout": str(int(self._query_timeout * 1000))}

    @staticmethod
    async def _create_schema(connection: asyncpg.Connection) -> None:
        encoding = await connection.fetchval("SHOW server_encoding")
        if encoding is None or encoding.upper() not in ("UTF8", "UTF-8"):
            raise StoreError(f"the database must use the UTF8 encoding, not {encoding}")
        version = schema_version()
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            if await connection.fetchval("SELECT to_regclass('gateway_meta') IS NOT NULL"):
                current = await connection.fetchval(
                    "SELECT value FROM gateway_meta WHERE name = 'schema'"
                )
                if current == version:
                    return
            for statement in schema_statements():
                await connection.execute(statement)
            try:
                async with connection.transaction():  # a savepoint: its failure undoes it alone
                    for statement in search_index_statements():
                        await connection.execute(statement)
            except asyncpg.PostgresError as error:
                log.warning("no trigram index for _search (pg_trgm): %s; _search scans", error)
            # statistics for columns an upgrade added: without them the planner walks the
            # creation order for a `_search` rather than asking the trigram index
            await connection.execute("ANALYZE objects")
            await connection.execute(
                "INSERT INTO gateway_meta VALUES ('schema', $1) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                version,
            )

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self._ready()
        try:
            async with pool.connection() as connection:
                yield connection
        except _UNREACHABLE as error:
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
            row = await connection.fetchrow(
                f"SELECT {_COLUMNS} FROM objects o WHERE o.collection = $1 AND o.id = $2",
                collection,
                object_id,
            )
        return _row(row) if row is not None else None

    def _kept_row(
        self, collection: str, row: asyncpg.Record, kept: Mapping[str, KeptDocument], keep: bool
    ) -> StoredObject:
        """The object of a row read with `_DATA_UNLESS_KEPT`: its document is the kept one when
        the row came without it; one that came is kept when `keep`."""
        data = row[3]
        if data is None:
            data = kept[row[0]].data
        elif keep:
            self._documents.put(collection, row[0], row[5], row[2], data)
        return StoredObject(row[0], row[1], row[2], data, row[4], row[5])

    async def write(self, changes: Sequence[Change]) -> None:
        """One transaction; consecutive puts (and deletes) go to the server as one pipeline."""
        if not changes:
            return
        groups: list[tuple[str, list[tuple[Any, ...]]]] = []
        for change in changes:
            if isinstance(change, Put):
                obj = change.obj
                folded = folded_document(obj.id, obj.created, obj.modified, obj.data, obj.owner)
                params: tuple[Any, ...] = (change.collection, *_stored_columns(obj, folded))
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
                async with connection.transaction():
                    for statement, rows in groups:
                        await connection.executemany(statement, rows)
            except (TypeError, orjson.JSONEncodeError) as error:
                raise StoreError(f"the change cannot be stored as JSON: {error}") from None
            except asyncpg.DataError as error:  # also an argument asyncpg could not encode
                raise StoreError(f"PostgreSQL refused the change: {error}") from None
            await _advance_generations(connection, {change.collection for change in changes})

    async def query(self, collection: str, query: ListQuery) -> Page:
        generation_sql = generation_read(collection)
        sql, where, where_count, order = _page_filter(collection, query)
        window = _page_window(sql, query)
        # digests: a join's `in` list can hold many thousands of ids (read once, here)
        where_params = sql.params[:where_count]
        where_key = _digest(f"{where}\n{where_params!r}".encode())
        page_key = _digest(where_key + f"\n{order}\n{sql.params[where_count:]!r}".encode())
        expected = self._documents.expected(collection, page_key)
        keep = expected is not None  # a statement's documents are kept from its second run
        kept = expected or {}
        data = "o.data"
        if kept:  # as one JSON object: asyncpg encodes a text[] an element at a time
            stamps = {object_id: document.stamp for object_id, document in kept.items()}
            data = _DATA_UNLESS_KEPT.format(stamp=f"({sql.param(stamps, 'jsonb')} ->> o.id)")
        page_sql = (
            f"SELECT {_COLUMNS_WITH.format(data=data)}, ({generation_sql}) AS generation "
            f"FROM objects o WHERE {where} ORDER BY {order} {window}"
        )
        refused: asyncpg.PostgresError | None = None
        async with self._connection() as connection:
            await _plan_mode(connection, plan_once(query))
            try:
                rows = await connection.fetch(page_sql, *sql.params)
                if 0 < len(rows) < query.limit or (not rows and query.offset == 0):
                    total = query.offset + len(rows)
                else:
                    # read with the page, so before the count (pg_counts.py)
                    generation = rows[0][-1] if rows else await connection.fetchval(generation_sql)
                    total = await self._count(
                        connection, where, where_params, where_key, generation
                    )
            except (
                asyncpg.InvalidRegularExpressionError,
                asyncpg.QueryCanceledError,
                asyncpg.DataError,
            ) as error:
                refused = error  # answered below, once the (sound) connection is back in the pool
        if refused is not None:
            raise self._query_refused(query, refused)
        items = [self._kept_row(collection, row, kept, keep) for row in rows]
        self._documents.answered(page_key, tuple(item.id for item in items))
        return Page(items, total)

    async def _count(
        self,
        connection: asyncpg.Connection,
        where: str,
        params: Sequence[Any],
        key: bytes,
        generation: int,
    ) -> int:
        """The number of matches of `where` (`key`: its digest with `params`), kept while the write
        `generation` stays (pg_counts.py). Requests that need the same count at once wait for one
        of them to make it (a kept total that has just aged would otherwise be counted by every
        request asking for it)."""
        total = self._counts.get(key, generation)
        if total is not None:
            return total
        flight = self._counting.get((key, generation))
        if flight is not None:
            counted = await asyncio.shield(flight)
            if counted is not None:
                return counted
        flight = asyncio.get_running_loop().create_future()
        self._counting[(key, generation)] = flight
        counted = None
        try:
            counted = (
                await connection.fetchval(f"SELECT count(*) FROM objects o WHERE {where}", *params)
                or 0
            )
            self._counts.put(key, generation, counted)
        finally:  # None: the count failed, each waiter counts for itself
            if self._counting.get((key, generation)) is flight:
                del self._counting[(key, generation)]
            flight.set_result(counted)
        return counted

    def _query_refused(self, query: ListQuery, error: asyncpg.PostgresError) -> Exception:
        if isinstance(error, asyncpg.InvalidRegularExpressionError):
            return _regex_refused(query, error)
        if isinstance(error, asyncpg.QueryCanceledError):
            return ServiceUnavailable(
                f"The query ran longer than the limit of {self._query_timeout} s and was "
                "stopped; narrow it with more selective filters.",
                headers={"Retry-After": "1"},
            )
        return BadRequest(f"PostgreSQL cannot evaluate this query: {error}")

    async def stream(
        self, collection: str, query: ListQuery, chunk: int = 1_000
    ) -> AsyncIterator[StoredObject]:
        """Every match of `query` (its window too), in its order, through a server-side cursor."""
        sql, where, _, order = _page_filter(collection, query)
        window = _page_window(sql, query)
        statement = f"SELECT {_COLUMNS} FROM objects o WHERE {where} ORDER BY {order} {window}"
        async with self._connection() as connection:
            await _plan_mode(connection, plan_once(query))
            async with connection.transaction():
                try:
                    async for row in connection.cursor(statement, *sql.params, prefetch=chunk):
                        yield _row(row)
                except asyncpg.QueryCanceledError:
                    raise ServiceUnavailable(
                        f"The export ran longer than the limit of {self._query_timeout} s per step.",
                        headers={"Retry-After": "1"},
                    ) from None

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Held by one process per database at a time (a session advisory lock on a connection
        of its own): the others wait here, checking every few seconds."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        pool = await self._ready()
        async with pool.connection() as connection:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
                await asyncio.sleep(3)
            try:
                yield
            finally:
                with contextlib.suppress(*_UNREACHABLE, asyncpg.PostgresError):
                    await connection.execute("SELECT pg_advisory_unlock($1)", key)

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- whole-database access (gateway migrate) ------------------------------------------------------

    async def collections(self) -> dict[str, int]:
        """Every collection -> its number of objects, in order of first creation."""
        async with self._connection() as connection:
            rows = await connection.fetch(
                "SELECT collection, count(*) FROM objects GROUP BY collection ORDER BY min(seq)"
            )
            return {name: count for name, count in rows}

    async def export(self, collection: str, chunk: int = 2_000) -> AsyncIterator[StoredObject]:
        """Every object of `collection` in creation order (streamed by a server-side cursor)."""
        async with self._connection() as connection, connection.transaction():
            async for row in connection.cursor(
                f"SELECT {_COLUMNS} FROM objects o WHERE o.collection = $1 ORDER BY o.seq",
                collection,
                prefetch=chunk,
            ):
                yield _row(row)

    async def import_all(
        self,
        objects: Iterable[tuple[str, StoredObject]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Copy `objects` (collection, object), in order, into an EMPTY database in one
        transaction (COPY): all or nothing. Returns how many were copied."""
        count = 0
        collections: set[str] = set()

        def rows() -> Iterator[tuple[Any, ...]]:
            nonlocal count
            for collection, obj in objects:
                folded = folded_document(obj.id, obj.created, obj.modified, obj.data, obj.owner)
                count += 1
                collections.add(collection)
                if progress is not None:
                    progress(count)
                yield (collection, *_stored_columns(obj, folded))

        async with self._connection() as connection:
            async with connection.transaction():
                await connection.execute("LOCK TABLE objects IN EXCLUSIVE MODE")
                if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM objects)"):
                    raise StoreError(
                        f"{redacted_url(self.url)} already holds objects: migrate into an empty "
                        "database"
                    )
                gin_indexes = [
                    name
                    for name in GIN_INDEXES
                    if await connection.fetchval("SELECT to_regclass($1)", name)
                ]
                for name in gin_indexes:  # collect the new entries, then merge them in one pass
                    await connection.execute(f"ALTER INDEX {name} SET (fastupdate = on)")
                await connection.copy_records_to_table("objects", records=rows(), columns=_COPIED)
                for name in gin_indexes:
                    await connection.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")
                    await connection.execute(f"ALTER INDEX {name} SET (fastupdate = off)")
            if collections:
                await _advance_generations(connection, collections)
        return count


def _page_filter(collection: str, query: ListQuery) -> tuple[Compiled, str, int, str]:
    """The WHERE clause of `query`, the number of parameters it takes (the first ones: a count
    reuses them), and its ORDER BY; the parameters of both in the `Compiled`."""
    sql = Compiled()
    where = compile_where(sql, collection, query)
    where_count = len(sql.params)
    return sql, where, where_count, compile_order(sql, query)


def _page_window(sql: Compiled, query: ListQuery) -> str:
    return f"LIMIT {sql.param(query.limit)} OFFSET {sql.param(query.offset)}"


async def _advance_generations(connection: asyncpg.Connection, collections: set[str]) -> None:
    """After a commit (pg_counts.py). Should it fail, the write stands and kept totals may miss it
    for `count_max_age` seconds: the write is not reported as failed for that."""
    try:
        await connection.fetchrow(generation_advance(collections))
    except (*_UNREACHABLE, asyncpg.PostgresError) as error:
        log.warning("could not advance the write generation after a commit: %s", error)


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
