"""Storage backends behind one interface (`Store`); `open_store` picks one by database setting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gateway_core.errors import StoreError
from gateway_core.storage.base import Change, Delete, Page, Put, Store, StoredObject
from gateway_core.storage.pg_counts import COUNT_MAX_AGE

__all__ = ["Change", "Delete", "Page", "Put", "Store", "StoredObject", "open_store"]


def open_store(
    database: str,
    indexes: Mapping[str, Sequence[str]] | None = None,
    query_timeout: float | None = None,
    count_max_age: float = COUNT_MAX_AGE,
) -> Store:
    """A file path opens the embedded TinyDB store, a postgresql:// URL the PostgreSQL store.
    `indexes`: collection (schema `$id`) -> the dotted paths to keep hash indexes on (from the
    plugin manifests). `query_timeout`: seconds a PostgreSQL statement may run (the embedded store
    scans in slices that let other requests in, so it needs no limit). `count_max_age`: seconds a
    PostgreSQL list total may be kept (pg_counts.py)."""
    if database.startswith(("postgresql://", "postgres://")):
        from gateway_core.storage.postgresql import PostgreSQLStore

        return PostgreSQLStore(
            database, indexes, query_timeout=query_timeout, count_max_age=count_max_age
        )
    if "://" in database:
        scheme = database.split("://", 1)[0]
        raise StoreError(f"database {database!r}: no storage backend for {scheme!r} URLs")
    from gateway_core.storage.tinydb_backend import TinyDBStore

    return TinyDBStore(Path(database), indexes)
