"""Shared fixtures: the reference CG schemas, a "book" schema folder and a TestClient factory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.plugins import Plugin
from gateway_core.schemas.registry import SchemaSet

# CI clones the repository with shared/ beside it: <dir>/main and <dir>/shared.
SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE_BUNDLE = SHARED / "reference" / "customer-interaction-bundle" / "Installation"
REFERENCE_SCHEMAS = REFERENCE_BUNDLE / "Schema"
REFERENCE_MANIFEST = REFERENCE_BUNDLE / "installation.json"

# Property tests explore new random examples on developers' machines; CI runs them derandomized,
# so a red CI is reproducible and never depends on the luck of the draw.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

BOOK_ID = "https://example.org/schemas/book.schema.json"
AUTHOR_ID = "https://example.org/schemas/author.schema.json"

BOOK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": BOOK_ID,
    "title": "Book",
    "version": "1.0.0",
    "type": "object",
    "required": ["title", "isbn"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 50},
        "isbn": {"type": "string", "pattern": "^[0-9]{13}$", "immutable": True},
        "genre": {"type": "string", "enum": ["novel", "poetry", "essay"]},
        "pages": {"type": "integer", "minimum": 1, "maximum": 5000},
        "available": {"type": "boolean", "default": True},
        "published": {"type": "string", "format": "date"},
        "lastPrinted": {"type": "string", "format": "date-time"},
        "website": {"type": "string", "format": "uri"},
        "contact": {"type": "string", "format": "email"},
        "catalogNumber": {"type": "string", "readOnly": True},
        "publisher": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 30},
                "country": {"type": "string", "default": "NL"},
                "address": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "postcode": {"type": "string"}},
                },
            },
        },
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string", "maxLength": 20},
                    "pages": {"type": "integer", "minimum": 1},
                    "draft": {"type": "boolean", "default": False},
                },
            },
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}

AUTHOR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": AUTHOR_ID,
    "title": "Author",
    "version": "0.1.0",
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "born": {"type": "string", "format": "date"}},
}


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def valid_book(**changes: Any) -> dict[str, Any]:
    book: dict[str, Any] = {
        "title": "Max Havelaar",
        "isbn": "9789038896182",
        "genre": "novel",
        "pages": 320,
        "published": "1860-05-14",
        "publisher": {"name": "De Ruyter", "address": {"city": "Amsterdam"}},
        "chapters": [{"title": "Intro", "pages": 3}, {"title": "Batavia", "pages": 40}],
    }
    book.update(changes)
    return book


_STRINGS_BY_FORMAT = {
    "date-time": "2024-05-01T09:30:00+02:00",
    "date": "2024-05-01",
    "email": "info@example.org",
    "uri": "https://example.org/x",
    "uuid": "9b2f4a3c-1d2e-4f50-8a6b-7c8d9e0f1a2b",
    "bsn": "999993653",
}


def _resolved(schemas: SchemaSet, schema: dict[str, Any], base: str) -> tuple[dict[str, Any], str]:
    """The schema with its `$ref` target folded in (siblings win)."""
    while isinstance(schema.get("$ref"), str):
        target, base = schemas.resolve(schema["$ref"], base)
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema, base


def example(schemas: SchemaSet, schema: dict[str, Any], base: str, depth: int = 0) -> Any:
    """A valid value for `schema`: its required properties, each of the right type, format, enum."""
    schema, base = _resolved(schemas, schema, base)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "string":
        value = _STRINGS_BY_FORMAT.get(
            schema.get("format", ""), "x" * max(1, schema.get("minLength", 1))
        )
        return value
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        return (
            [example(schemas, items, base, depth + 1)]
            if isinstance(items, dict) and depth < 6
            else []
        )
    if kind == "null":
        return None
    props = schema.get("properties", {})
    return {
        name: example(schemas, props[name], base, depth + 1) for name in schema.get("required", [])
    }


@pytest.fixture
def reference_schemas() -> Path:
    if not REFERENCE_SCHEMAS.is_dir():
        pytest.skip(f"reference schemas not found at {REFERENCE_SCHEMAS}")
    return REFERENCE_SCHEMAS


@pytest.fixture
def reference_plugin(reference_schemas: Path) -> Plugin:
    """The CG CustomerInteractionBundle as it is: its Schema folder and its installation.json."""
    return Plugin(
        name="reference-bundle",
        title="CustomerInteractionBundle (reference copy)",
        schema_dirs=(reference_schemas,),
        manifest=REFERENCE_MANIFEST,
    )


@pytest.fixture
def book_schemas(tmp_path: Path) -> Path:
    """A folder with a book and an author schema in standard JSON Schema 2020-12."""
    folder = tmp_path / "schemas"
    write_json(folder / "book.schema.json", BOOK_SCHEMA)
    write_json(folder / "author.schema.json", AUTHOR_SCHEMA)
    return folder


@contextmanager
def make_client(
    tmp_path: Path,
    schema_dirs: Sequence[Path | str] = (),
    plugins: Sequence[Plugin] = (),
    database: str | None = None,
    **settings: Any,
) -> Iterator[TestClient]:
    """A TestClient (entered, so the store opens and closes) on `database` (the `database`
    fixture's value), by default a data file in `tmp_path`."""
    config = Settings(
        database=database or str(tmp_path / "db.json"),
        schemas=tuple(str(folder) for folder in schema_dirs),
        **settings,
    )
    gateway = load_gateway(config, plugins=list(plugins))
    with TestClient(create_app(config, gateway)) as client:
        yield client


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The customer-interaction plugin with its demo data on a data file of this module's own."""
    database = str(tmp_path_factory.mktemp("demo") / "gateway.json")
    plugin = ("--plugin", "customer-interaction")
    assert main(["install", "customer-interaction", "--data", "--database", database, *plugin]) == 0
    config = Settings(database=database, plugins=("customer-interaction",))
    with TestClient(create_app(config, load_gateway(config))) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_demo_gateway(folder: Path) -> Iterator[str]:
    """The real gateway (uvicorn, on 127.0.0.1) with the customer-interaction plugin and its demo
    data in `folder`; yields its base URL."""
    database = str(folder / "gateway.json")
    plugin = ["--plugin", "customer-interaction"]
    assert main(["install", "customer-interaction", "--data", "--database", database, *plugin]) == 0
    port = _free_port()
    command = [sys.executable, "-m", "gateway_core.cli", "serve", "--database", database]
    command += ["--port", str(port), *plugin]
    # Settings of the caller's shell or ./gateway.yaml (another base path, say) stay out.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment["GATEWAY_LOG_LEVEL"] = "warning"
    log = folder / "server.log"
    with log.open("wb") as errors:
        server = subprocess.Popen(
            command, cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=errors
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the gateway did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def book_client(tmp_path: Path, book_schemas: Path, database: str) -> Iterator[TestClient]:
    with make_client(tmp_path, [book_schemas], database=database) as client:
        yield client


# -- storage backends: the whole API suite runs on both -------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _stop_postgresql_at_end() -> Iterator[None]:
    """Stops the throwaway PostgreSQL cluster (tests/pg/cluster.py) if a test started one."""
    yield
    from pg.cluster import stop_shared

    stop_shared()


@pytest.fixture(scope="session")
def postgresql_cluster() -> Any:
    """The session's throwaway PostgreSQL cluster (started on first use). Skipped when PostgreSQL
    is not installed, failed under CI=true."""
    from pg.cluster import require_cluster

    return require_cluster()


@pytest.fixture(params=["tinydb", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A `database` setting for a fresh, empty store: a data file in `tmp_path`, or the URL of an
    empty database on the session's PostgreSQL cluster (emptied again afterwards, for reuse)."""
    if request.param == "tinydb":
        yield str(tmp_path / "db.json")
        return
    cluster = request.getfixturevalue("postgresql_cluster")
    url = cluster.borrow_database()
    try:
        yield url
    finally:
        cluster.return_database(url)


@pytest.fixture(scope="module", params=["tinydb", "postgresql"])
def module_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """For module-scoped fixtures: a function that gives a new `database` setting per call (each
    such fixture has a store of its own), on the backend of this parameter."""
    borrowed: list[str] = []

    def new_database() -> str:
        if request.param == "tinydb":
            return str(tmp_path_factory.mktemp("db") / "db.json")
        url: str = request.getfixturevalue("postgresql_cluster").borrow_database()
        borrowed.append(url)
        return url

    yield new_database
    for url in borrowed:
        request.getfixturevalue("postgresql_cluster").return_database(url)
