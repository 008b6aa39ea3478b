"""A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, one free port on
127.0.0.1, a socket folder in /tmp, fsync off; stopped and removed at the end.

When running as root the server runs as the `postgres` OS user (`runuser -u postgres --`), the
temporary folder chowned to it. `shared_cluster()` starts one per test process on first use (the
session fixture in conftest.py and the storage-level store factories share it) and `stop_shared()`
ends it (also at interpreter exit, should a session end abnormally).

Tests get an empty database per use: `cluster.fresh_database()` copies a template database in
which the gateway's tables already exist (CREATE DATABASE ... TEMPLATE, ~0.2 s);
`borrow_database()` / `return_database()` recycle them (TRUNCATE, a few milliseconds).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

TEMPLATE = "gateway_template"
_SEARCH = ("/usr/lib/postgresql",)


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or the server would not start."""


def find_binaries() -> Path | None:
    """The folder with initdb/pg_ctl: $GATEWAY_PG_BINDIR, Debian's newest, or the PATH."""
    chosen = os.environ.get("GATEWAY_PG_BINDIR")
    if chosen:
        return Path(chosen) if (Path(chosen) / "initdb").exists() else None
    for root in _SEARCH:
        versions = sorted(
            (p for p in Path(root).glob("*/bin") if (p / "initdb").exists()),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        )
        if versions:
            return versions[-1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """`durable`: fsync and synchronous commits on (benchmarks); off for tests."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.folder = Path(tempfile.mkdtemp(prefix="gateway-pg-", dir="/tmp"))
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.port = _free_port()
        self.user = "postgres"
        self._as_other: list[str] = []
        self._counter = 0
        self._returned: list[str] = []
        self._lock = threading.Lock()
        self.running = False

    # -- running the server ---------------------------------------------------------------------

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_other, *command], capture_output=True, text=True, check=False, timeout=60
        )

    def start(self) -> None:
        self.sockets.mkdir()
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable(
                    "running as root and there is no 'postgres' user"
                ) from None
            for path in (self.folder, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
            self._as_other = ["runuser", "-u", "postgres", "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        initdb = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        if initdb.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {initdb.stderr.strip() or initdb.stdout}")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
        if self.durable:
            options += "-c max_connections=200 -c shared_buffers=256MB"
        else:
            options += (
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=64MB"
            )
        started = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        if started.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterUnavailable(f"pg_ctl start failed: {started.stderr.strip()}\n{tail}")
        self.running = True
        self.sql("postgres", f"CREATE DATABASE {TEMPLATE}")
        self._prepare_template()

    def _prepare_template(self) -> None:
        """Create the gateway's tables in the template, so that every copy has them."""
        import asyncio

        from gateway_core.storage.postgresql import PostgreSQLStore

        async def create() -> None:
            store = PostgreSQLStore(self.url(TEMPLATE))
            await store.open()
            await store.close()

        # in a thread of its own: the caller may be inside a running event loop
        failures: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(create())
            except BaseException as error:
                failures.append(error)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
        if failures:
            raise failures[0]

    def stop(self) -> None:
        if self.running:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- databases ------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def sql(self, database: str, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def fresh_database(self) -> str:
        """A new database with the gateway's (empty) tables; its URL."""
        with self._lock:
            self._counter += 1
            name = f"test_{os.getpid()}_{self._counter}"
        self.sql("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def borrow_database(self) -> str:
        """An empty database with the gateway's tables: a returned one (emptied) or a new one."""
        with self._lock:
            if self._returned:
                return self._returned.pop()
        return self.fresh_database()

    def return_database(self, url: str) -> None:
        """Empty a borrowed database for the next test (TRUNCATE: milliseconds, where a CREATE
        DATABASE takes ~0.2 s); connections a test left open are ended first."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        try:
            self.sql(
                "postgres",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            )
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("TRUNCATE objects RESTART IDENTITY")
        except Exception:
            self.drop_database(url)
            return
        with self._lock:
            self._returned.append(url)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self.sql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_shared: Cluster | None = None
_shared_error: str | None = None


def shared_cluster() -> Cluster:
    """The test process's cluster, started on first use. Raises ClusterUnavailable (every later
    call too) when it cannot be started."""
    global _shared, _shared_error
    if _shared is not None:
        return _shared
    if _shared_error is not None:
        raise ClusterUnavailable(_shared_error)
    bindir = find_binaries()
    if bindir is None:
        _shared_error = "no PostgreSQL server binaries (initdb, pg_ctl) found"
        raise ClusterUnavailable(_shared_error)
    cluster = Cluster(bindir)
    try:
        cluster.start()
    except Exception as error:
        cluster.stop()
        _shared_error = f"{type(error).__name__}: {error}"
        raise ClusterUnavailable(_shared_error) from error
    _shared = cluster
    atexit.register(stop_shared)
    return cluster


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


def require_cluster() -> Cluster:
    """The shared cluster for a test; skips it when PostgreSQL is absent, except under CI=true,
    where a missing or broken PostgreSQL fails the test."""
    import pytest

    try:
        return shared_cluster()
    except ClusterUnavailable as error:
        if os.environ.get("CI", "").lower() in ("true", "1") or find_binaries() is not None:
            pytest.fail(f"PostgreSQL could not be started: {error}", pytrace=False)
        pytest.skip(f"PostgreSQL not available: {error}")


_databases: dict[str, str] = {}


def empty_database(key: object) -> str:
    """The URL of a database of the shared cluster kept for `key` (created on first use from the
    template) and emptied now: a fresh store per use, without a CREATE DATABASE each time."""
    cluster = require_cluster()
    name = str(key)
    url = _databases.get(name)
    if url is None:
        url = _databases[name] = cluster.fresh_database()
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DELETE FROM objects")
    return url
