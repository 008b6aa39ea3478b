"""Storage backends behind one interface (`Store`); `open_store` picks one from a database setting."""

from __future__ import annotations

from pathlib import Path

from gateway_core.errors import StoreError
from gateway_core.storage.base import Change, Delete, Page, Put, Store, StoredObject

__all__ = ["Change", "Delete", "Page", "Put", "Store", "StoredObject", "open_store"]


def open_store(database: str) -> Store:
    """A file path opens the embedded TinyDB store."""
    if "://" in database:
        scheme = database.split("://", 1)[0]
        raise StoreError(f"database {database!r}: no storage backend for {scheme!r} URLs")
    from gateway_core.storage.tinydb_backend import TinyDBStore

    return TinyDBStore(Path(database))
