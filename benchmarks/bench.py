"""`make bench`: the gateway under load at 1,000, 10,000 and 100,000 stored Partij objects.

For each size: a data file written directly in TinyDB's format (valid Partij records with unique
BSNs passing the eleven-test), the gateway started on it (`gateway serve`, access log off), its
start-up time (process start to the first 200 on /health) and resident memory (VmRSS), then per
scenario a load generator for a fixed time: GET item, GET list by BSN, GET list with `_search`,
POST, PATCH. A bare Starlette endpoint on uvicorn (uvloop + httptools, one worker) is measured in
the same run as the baseline. The results go to docs/performance.md between the bench markers.

The load generator is wrk (installed with apt-get when missing and running as root), else a small
asyncio HTTP/1.1 client of our own. Never part of `make test`.

    .venv/bin/python benchmarks/bench.py [--sizes 1000,10000,100000] [--duration 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from partijen import partij, write_data_file  # noqa: E402

PLUGIN_ROUTE = "/api/kic/v1/partijen"
BSN_PATH = "externeIdentificatie.partijIdentificator.objectId"
TYPE_PATH = "externeIdentificatie.partijIdentificator.objecttype"
SEARCH_TERMS = ["jansen", "bakker", "visser", "meijer", "dossier"]
SCENARIOS = {
    "get_item": "GET item",
    "list_bsn": "GET list, BSN query",
    "list_dotted": "GET list, one dotted filter",
    "list_search": "GET list, `_search`",
    "post": "POST",
    "patch": "PATCH",
    "patch16": "PATCH, 16 connections",
}
PATCH_CONNECTIONS = 16  # the p99 target for updates
SEARCH_CONNECTIONS = (
    4  # a `_search` scans every object: few connections, or latency is all queueing
)
START_MARK, END_MARK = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Result:
    scenario: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    baseline_rps: float = 0.0  # the bare app, measured right before with the same connections
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (req/s, baseline req/s)
    round_p99s: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def round_shares(self) -> list[float]:
        return [rps / bare for rps, bare in self.rounds if bare]

    @property
    def share(self) -> float:
        """The median over the rounds of (req/s / the baseline's req/s right before it)."""
        shares = self.round_shares
        if shares:
            return statistics.median(shares)
        return self.rps / self.baseline_rps if self.baseline_rps else float("nan")


def side_by_side(rounds: list[tuple[Result, Result | None]]) -> Result:
    """One result of alternating rounds (gateway, baseline right before it): requests and time
    summed; the share, p50 and p99 the medians of the rounds' (each round's p99 is kept in
    `round_p99s`)."""
    first = rounds[0][0]
    seconds = sum(result.seconds for result, _ in rounds)
    bare_seconds = sum(bare.seconds for _, bare in rounds if bare is not None)
    bare_requests = sum(bare.requests for _, bare in rounds if bare is not None)
    return Result(
        first.scenario,
        first.connections,
        sum(result.requests for result, _ in rounds),
        seconds,
        statistics.median(result.p50_ms for result, _ in rounds),
        statistics.median(result.p99_ms for result, _ in rounds),
        sum(result.failed for result, _ in rounds),
        bare_requests / bare_seconds if bare_seconds else 0.0,
        [(result.rps, bare.rps) for result, bare in rounds if bare is not None],
        [result.p99_ms for result, _ in rounds],
    )


@dataclass
class Target:
    label: str
    schema_id: str
    route: str
    arguments: list[str]
    environment: dict[str, str]


@dataclass
class SizeRun:
    objects: int
    startup_s: float
    rss_kb: int
    results: dict[str, Result] = field(default_factory=dict)
    shutdown_s: float = 0.0
    ready_s: float = 0.0  # process start until the search indexes are built
    document_bytes: float = 0.0


# -- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": (commit or "unknown") + (" with local changes" if dirty else ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        content = response.read()
        try:
            return response.status, json.loads(content) if content else None
        except ValueError:
            return response.status, content
    finally:
        connection.close()


def settle(port: int, limit: float = 120.0) -> None:
    """Wait until the server is idle: requests still queued from a run (a slow `_search` goes on
    after the load generator stops) must not delay the next measurement."""
    deadline = time.perf_counter() + limit
    quick = 0
    while quick < 3 and time.perf_counter() < deadline:
        begin = time.perf_counter()
        request(port, "GET", "/health")
        quick = quick + 1 if time.perf_counter() - begin < 0.005 else 0
        time.sleep(0.05)


class Server:
    """A server process; `started` is the time from process start to the first 200 on /health."""

    def __init__(self, command: list[str], environment: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.log = cwd / f"server-{self.port}.log"
        begin = time.perf_counter()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = begin + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.log.read_text()[-2000:]}")
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError("the server did not answer /health within 120 s")
            time.sleep(0.005)
        self.started = time.perf_counter() - begin
        self._began = begin

    def wait_until_ready(self, limit: float = 300.0) -> float:
        """Seconds from process start until /health reports the search indexes built (the
        embedded store builds them after start-up, between requests)."""
        deadline = time.perf_counter() + limit
        while request(self.port, "GET", "/health")[1].get("searchIndexes", "ready") != "ready":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the search indexes were not ready within {limit:g} s")
            time.sleep(0.05)
        return time.perf_counter() - self._began

    def stop(self) -> float:
        begin = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.perf_counter() - begin


# -- what to serve -------------------------------------------------------------------------------


def base_environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment["GATEWAY_LOG_LEVEL"] = "warning"
    return environment


def gateway_command(database: Path, target: Target) -> list[str]:
    gateway = Path(sys.executable).with_name("gateway")
    serve = [str(gateway)] if gateway.exists() else [sys.executable, "-m", "gateway_core.cli"]
    return [*serve, "serve", "--database", str(database), "--port", "{port}", *target.arguments]


def sample_body() -> dict[str, Any]:
    return partij(1, "111222333", random.Random(0))


def probe(
    target: Target, work: Path, find: Callable[[dict[str, Any]], tuple[str, str] | None]
) -> Target | None:
    """Serve `target` on an empty file; its Partij endpoint must store a generated body as is."""
    folder = Path(tempfile.mkdtemp(prefix="probe-", dir=work))
    database = folder / "gateway.json"
    try:
        server = Server(gateway_command(database, target), target.environment, folder)
    except RuntimeError as error:
        print(f"  {target.label}: not usable ({str(error).strip().splitlines()[-1][:200]})")
        return None
    try:
        status, index = request(server.port, "GET", "/api")
        found = find(index) if status == 200 and isinstance(index, dict) else None
        if found is None:
            print(f"  {target.label}: no Partij endpoint in GET /api")
            return None
        schema_id, route = found
        status, created = request(server.port, "POST", route, sample_body())
        if status != 201:
            print(f"  {target.label}: POST {route} answered {status}: {str(created)[:300]}")
            return None
    finally:
        server.stop()
    tables = orjson.loads(database.read_bytes())
    documents = [  # the gateway's own collections (the audit trail, the outbox) aside
        d
        for name, table in tables.items()
        if not name.startswith("gateway:")
        for d in table.values()
    ]
    if len(documents) != 1 or documents[0].get("data") != sample_body():
        print(f"  {target.label}: stores a Partij differently from the generated records")
        return None
    return Target(target.label, schema_id, route, target.arguments, target.environment)


def choose_target(work: Path) -> Target:
    def plugin_partij(index: dict[str, Any]) -> tuple[str, str] | None:
        for object_type in index.get("objecttypes", []):
            for endpoint in object_type.get("endpoints", []):
                if endpoint.rstrip("/").endswith(PLUGIN_ROUTE.removeprefix("/api")):
                    return object_type["$id"], endpoint
        return None

    def any_partij(index: dict[str, Any]) -> tuple[str, str] | None:
        for object_type in index.get("objecttypes", []):
            if object_type.get("title") == "Partij" and object_type.get("endpoints"):
                return object_type["$id"], object_type["endpoints"][0]
        return None

    plugin = Target(
        "the customer-interaction plugin",
        "",
        "",
        ["--plugin", "customer-interaction"],
        base_environment(),
    )
    chosen = probe(plugin, work, plugin_partij)
    if chosen is not None:
        return chosen
    own = Target(
        "benchmarks/schemas/klant.partij.schema.json (the plugin's Partij is not loadable)",
        "",
        "",
        ["--schemas", str(BENCH / "schemas")],
        {**base_environment(), "GATEWAY_PLUGINS": ""},
    )
    chosen = probe(own, work, any_partij)
    if chosen is None:
        raise SystemExit("neither the plugin nor the benchmark's own Partij schema can be served")
    return chosen


# -- load generators -----------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    if os.environ.get("BENCH_NO_WRK"):  # to try the asyncio client
        return None
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
    return shutil.which("wrk")


class Load:
    """Runs one scenario for a fixed time against 127.0.0.1:port and reports a `Result`."""

    def __init__(
        self, wrk: str | None, work: Path, duration: float, connections: int, rounds: int = 1
    ) -> None:
        self.wrk = wrk
        self.work = work
        self.duration = duration
        self.connections = connections
        self.rounds = rounds  # per scenario, each right after its own baseline measurement

    @property
    def name(self) -> str:
        if self.wrk:
            version = subprocess.run([self.wrk, "-v"], capture_output=True, text=True)
            first = (version.stdout + version.stderr).strip().splitlines()
            return (first[0].split(" [")[0] if first else "wrk") + ", 1 thread"
        return "the benchmark's asyncio HTTP/1.1 client"

    def run(
        self,
        scenario: str,
        port: int,
        path: str,
        items: list[str],
        connections: int | None = None,
        duration: float | None = None,
    ) -> Result:
        connections = connections or self.connections
        duration = duration or self.duration
        if self.wrk:
            return self._wrk(scenario, port, path, items, connections, duration)
        return asyncio.run(_async_load(scenario, port, path, items, connections, duration))

    def _wrk(
        self,
        scenario: str,
        port: int,
        path: str,
        items: list[str],
        connections: int,
        duration: float,
    ) -> Result:
        script = self.work / f"{scenario}.lua"
        lua = {"patch16": "patch"}.get(scenario, scenario)
        script.write_text(
            (BENCH / "wrk" / "common.lua").read_text() + (BENCH / "wrk" / f"{lua}.lua").read_text()
        )
        listing = self.work / f"{scenario}.items"
        listing.write_text("\n".join(items) + "\n")
        environment = {**os.environ, "BENCH_ITEMS": str(listing), "BENCH_PATH": path}
        command = [
            self.wrk,
            "-t1",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ]
        output = subprocess.run(command, capture_output=True, text=True, env=environment)
        match = re.search(r"^BENCH (\{.*\})$", output.stdout, re.MULTILINE)
        if not match:
            raise RuntimeError(f"wrk failed: {output.stdout}{output.stderr}")
        data = json.loads(match.group(1))
        failed = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
        return Result(
            scenario,
            connections,
            data["requests"],
            data["duration_us"] / 1e6,
            data["p50_us"] / 1000,
            data["p99_us"] / 1000,
            failed,
        )


def _requests(
    scenario: str, path: str, items: list[str], rng: random.Random
) -> Iterator[tuple[str, str, bytes | None]]:
    """The same requests as the wrk scripts: (method, target, body)."""
    counter = 0
    while True:
        counter += 1
        if scenario in ("get_item", "patch", "patch16"):
            target = f"{path}/{rng.choice(items)}"
            if scenario == "get_item":
                yield "GET", target, None
            else:
                yield (
                    "PATCH",
                    target,
                    orjson.dumps({"interneNotitie": f"Gewijzigd bij meting {counter}"}),
                )
        elif scenario == "list_bsn":
            yield (
                "GET",
                f"{path}?{BSN_PATH}={rng.choice(items)}&{TYPE_PATH}=ingeschrevenpersoon",
                None,
            )
        elif scenario == "list_dotted":
            yield "GET", f"{path}?{BSN_PATH}={rng.choice(items)}", None
        elif scenario == "list_search":
            yield "GET", f"{path}?_search={rng.choice(items)}", None
        elif scenario == "post":
            first = f"{20_000_000 + counter:08d}"
            check = sum((9 - i) * int(d) for i, d in enumerate(first)) % 11
            if check == 10:
                continue
            body = (
                items[0]
                .replace("__BSN__", first + str(check))
                .replace("__NUMMER__", str(1_000_000 + counter))
            )
            yield "POST", path, body.encode()
        else:
            yield "GET", path, None


async def _async_load(
    scenario: str, port: int, path: str, items: list[str], connections: int, duration: float
) -> Result:
    latencies: list[float] = []
    failed = 0
    requests = _requests(scenario, path, items, random.Random(1))
    stop_at = time.perf_counter() + duration

    async def connection() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                method, target, body = next(requests)
                head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                if body is not None:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                begin = time.perf_counter()
                writer.write(head.encode() + b"\r\n" + (body or b""))
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - begin)
                if not status_line.split()[1].startswith((b"2", b"3")):
                    failed += 1
        finally:
            writer.close()

    begin = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.perf_counter() - begin
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return Result(scenario, connections, len(latencies), seconds, p50 * 1000, p99 * 1000, failed)


# -- the measurements ----------------------------------------------------------------------------


class Baseline:
    """The bare Starlette app (benchmarks/baseline.py), served beside the gateway and measured
    right before each of the gateway's measurements, with the same connections: the shared
    machine's speed drifts by tens of percent within minutes, so only side-by-side ratios hold."""

    def __init__(self, load: Load, work: Path) -> None:
        self.load = load
        folder = Path(tempfile.mkdtemp(prefix="baseline-", dir=work))
        self.server = Server(
            [sys.executable, str(BENCH / "baseline.py"), "{port}"], base_environment(), folder
        )
        load.run("baseline", self.server.port, "/", [""], duration=1)  # warm-up

    def measure(self, connections: int | None = None) -> Result:
        return self.load.run("baseline", self.server.port, "/", [""], connections)

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()


def post_template() -> str:
    body = partij(1, "__BSN__", random.Random(5))
    body["nummer"] = 0
    return orjson.dumps(body).decode().replace('"nummer":0', '"nummer":__NUMMER__')


def measure_size(
    objects: int, target: Target, load: Load, work: Path, baseline: Baseline | None = None
) -> SizeRun:
    folder = Path(tempfile.mkdtemp(prefix=f"n{objects}-", dir=work))
    database = folder / "gateway.json"
    began = time.perf_counter()
    ids, bsns = write_data_file(database, target.schema_id, objects)
    print(
        f"  {objects:,} Partij records written in {time.perf_counter() - began:.1f} s "
        f"({database.stat().st_size / 2**20:.0f} MiB)"
    )
    server = Server(gateway_command(database, target), target.environment, folder)
    run = SizeRun(objects, server.started, 0)
    run.document_bytes = database.stat().st_size / objects if objects else 0.0
    try:
        run.ready_s = server.wait_until_ready()  # measured is the steady state
        if objects:
            sample = warm_up(load, server.port, target.route, ids, bsns, seed=objects)
        run.rss_kb = rss_kb(server.process.pid)
        if objects:
            run.results = run_scenarios(load, server.port, target.route, *sample, baseline)
    finally:
        run.shutdown_s = server.stop()
    return run


def warm_up(
    load: Load, port: int, route: str, ids: list[str], bsns: list[str], seed: int
) -> tuple[list[str], list[str]]:
    """A sample of ids and BSNs to request; checks the seed's query and warms the server up."""
    sample = random.Random(seed).sample(range(len(ids)), min(len(ids), 5_000))
    some_ids = [ids[i] for i in sample]
    some_bsns = [bsns[i] for i in sample]
    for bsn in some_bsns[:5]:  # also lets the automatic index rule see the BSN filter
        query = f"{BSN_PATH}={bsn}&{TYPE_PATH}=ingeschrevenpersoon"
        status, page = request(port, "GET", f"{route}?{query}")
        assert status == 200 and page["total"] == 1, (status, page)
    load.run("get_item", port, route, some_ids, duration=1)
    settle(port)
    return some_ids, some_bsns


AUDIT_OBJECTS = 10_000


def measure_audit_cost(load: Load, work: Path) -> dict[bool, dict[str, Result]]:
    """POST and PATCH on the benchmark's own Partij schema at 10,000 objects, served twice, side by
    side: with the audit trail (the default) and with `"createAuditTrails": false`."""
    schema = orjson.loads((BENCH / "schemas" / "klant.partij.schema.json").read_bytes())
    results: dict[bool, dict[str, Result]] = {}
    for audited in (True, False, True, False):  # twice each, alternating; the better run counts
        folder = Path(tempfile.mkdtemp(prefix=f"audit-{audited}-", dir=work))
        (folder / "schemas").mkdir()
        (folder / "schemas" / "partij.schema.json").write_bytes(
            orjson.dumps({**schema, "createAuditTrails": audited})
        )
        database = folder / "gateway.json"
        ids, _ = write_data_file(database, schema["$id"], AUDIT_OBJECTS)
        target = Target(
            "audit", schema["$id"], "", ["--schemas", str(folder / "schemas")],
            {**base_environment(), "GATEWAY_PLUGINS": ""},
        )  # fmt: skip
        server = Server(gateway_command(database, target), target.environment, folder)
        try:
            _, index = request(server.port, "GET", "/api")
            route = index["objecttypes"][0]["endpoints"][0]
            some_ids = random.Random(7).sample(ids, 2_000)
            load.run("patch", server.port, route, some_ids, duration=1)  # warm-up
            best = results.setdefault(audited, {})
            for scenario, items in (("post", [post_template()]), ("patch", some_ids)):
                settle(server.port)
                result = load.run(scenario, server.port, route, items, None)
                if scenario not in best or result.rps > best[scenario].rps:
                    best[scenario] = result
                print(
                    f"    audit trail {'on ' if audited else 'off'} {SCENARIOS[scenario]:<8}"
                    f" {result.rps:9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                )
        finally:
            server.stop()
    return results


def audit_report(results: dict[bool, dict[str, Result]]) -> list[str]:
    lines = [
        "",
        f"What the audit trail costs (issue 15): the benchmark's own Partij schema at "
        f"{AUDIT_OBJECTS:,} objects, served with the audit trail and with "
        '`"createAuditTrails": false`, alternately, twice each (the better run of each counts):',
        "",
        "| request | with audit trail req/s | without req/s | with / without | p99 with | p99 without |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario in ("post", "patch"):
        on, off = results[True][scenario], results[False][scenario]
        share = on.rps / off.rps if off.rps else float("nan")
        lines.append(
            f"| {SCENARIOS[scenario]} | {on.rps:,.0f} | {off.rps:,.0f} | {share:.2f} "
            f"| {on.p99_ms:.2f} ms | {off.p99_ms:.2f} ms |"
        )
    return lines


def run_scenarios(
    load: Load,
    port: int,
    route: str,
    some_ids: list[str],
    some_bsns: list[str],
    baseline: Baseline | None = None,
) -> dict[str, Result]:
    """Every scenario in turn, in `load.rounds` rounds: each round right after the baseline with
    the same connections and after the server has settled; printed as it goes."""
    results: dict[str, Result] = {}
    plan = [
        ("get_item", some_ids, None),
        ("list_bsn", some_bsns, None),
        ("list_dotted", some_bsns, None),
        ("list_search", SEARCH_TERMS, SEARCH_CONNECTIONS),
        ("post", [post_template()], None),
        ("patch", some_ids, None),
        ("patch16", some_ids, PATCH_CONNECTIONS),
    ]
    for scenario, items, connections in plan:
        rounds: list[tuple[Result, Result | None]] = []
        for _ in range(load.rounds):
            bare = baseline.measure(connections) if baseline is not None else None
            settle(port)
            rounds.append((load.run(scenario, port, route, items, connections), bare))
        result = results[scenario] = side_by_side(rounds)
        shares = ", ".join(f"{share:.2f}" for share in result.round_shares)
        print(
            f"    {SCENARIOS[scenario]:<22} {result.rps:9,.0f} req/s"
            f"  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms"
            f"  failed {result.failed}  baseline {result.baseline_rps:,.0f} req/s"
            f"  share {result.share:.2f} (rounds {shares})"
        )
    return results


# -- the report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def kb(value: float) -> str:
    return f"{value / 1000:.2f} KB"


def report(
    info: dict[str, str], target: Target, load: Load, runs: list[SizeRun], duration: float
) -> str:
    """The markdown section: setup, one table of requests, one of start-up and memory, targets."""
    empty = next((run for run in runs if not run.objects), None)
    sized = [run for run in runs if run.objects]
    bare = [r.baseline_rps for run in sized for r in run.results.values()]
    lines = [
        f"Measured {info['date']} by `make bench` (benchmarks/bench.py), commit {info['commit']}.",
        "",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} memory, "
        f"Linux {info['kernel']}, Python {info['python']}; the gateway, the load generator and "
        "the baseline share it.",
        f"- Load: {load.name} over 127.0.0.1, {load.connections} connections "
        f"({SEARCH_CONNECTIONS} for `_search`, {PATCH_CONNECTIONS} for the second PATCH), "
        f"{measurement(load)}; the gateway as "
        "`gateway serve` (uvicorn, uvloop + httptools, one process, access log off).",
        f"- Served: {target.label}, `{target.route}`; Partij records of "
        f"{kb(runs[-1].document_bytes)} as JSON.",
        "- Baseline: a bare Starlette endpoint on uvicorn (uvloop + httptools, one worker), "
        "served beside the gateway and measured right before each round with the same "
        f"connections ({min(bare):,.0f} to {max(bare):,.0f} req/s in this run, rows' averages): "
        "the shared machine's speed drifts, so each round is compared with its own baseline and "
        "a row's share, p50 and p99 are the medians of its rounds' (req/s and baseline req/s are "
        "over all its rounds).",
        "",
        "| objects | request | req/s | baseline req/s | of baseline | p50 ms | p99 ms | failed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in sized:
        for scenario, result in run.results.items():
            lines.append(
                f"| {run.objects:,} | {SCENARIOS[scenario]} | {result.rps:,.0f} "
                f"| {result.baseline_rps:,.0f} | {result.share:.2f} | {result.p50_ms:.2f} "
                f"| {result.p99_ms:.2f} | {result.failed} |"
            )
    lines += [
        "",
        "| objects | start-up (process start to first 200 on /health) | search indexes built "
        "(process start to `ready` on /health) | shut-down (with compaction) | VmRSS "
        "| VmRSS / object | (VmRSS - VmRSS empty) / object |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        whole = kb(run.rss_kb * 1024 / run.objects) if run.objects else "-"
        extra = (
            kb((run.rss_kb - empty.rss_kb) * 1024 / run.objects) if run.objects and empty else "-"
        )
        lines.append(
            f"| {run.objects:,} | {run.startup_s:.2f} s | {run.ready_s:.2f} s "
            f"| {run.shutdown_s:.2f} s "
            f"| {run.rss_kb / 1024:.0f} MiB | {whole} | {extra} |"
        )
    lines += ["", "| target (issue 17 and before) | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {verdict(ok)} |" for name, measured, ok in targets(sized)]
    failures = sum(r.failed for run in sized for r in run.results.values())
    if failures:
        lines += ["", f"**{failures} requests failed** (errors or non-2xx answers): see the table."]
    return "\n".join(lines)


def measurement(load: Load) -> str:
    return (
        f"{load.rounds} round(s) of {load.duration:g} s per scenario, each right after "
        f"{load.duration:g} s of the baseline"
    )


def ratio_target(label: str, result: Result, wanted: float) -> tuple[str, str, bool]:
    shares = ", ".join(f"{share:.2f}" for share in result.round_shares)
    return (
        f"{label} >= {wanted:.2f} of baseline",
        f"{result.share:.3f} (rounds {shares}; {result.rps:,.0f} / "
        f"{result.baseline_rps:,.0f} req/s over all)",
        result.share >= wanted,
    )


def targets(sized: list[SizeRun]) -> list[tuple[str, str, bool]]:
    large, small = sized[-1], sized[0]
    post, first_post = large.results["post"], small.results["post"]
    ratio = post.p50_ms / first_post.p50_ms
    per_object = large.rss_kb * 1024 / large.objects
    n, m = f"{large.objects:,}", f"{small.objects:,}"
    patch16 = large.results["patch16"]
    return [
        ratio_target(f"GET item at {n}", large.results["get_item"], 0.70),
        ratio_target(f"BSN list query at {n}", large.results["list_bsn"], 0.50),
        ratio_target(f"one dotted filter at {n}", large.results["list_dotted"], 0.50),
        ratio_target(f"`_search` at {n}", large.results["list_search"], 0.10),
        ratio_target(f"PATCH at {n}", large.results["patch"], 0.25),
        (
            f"PATCH p99 at {n}, {PATCH_CONNECTIONS} connections < 30 ms",
            f"{patch16.p99_ms:.1f} ms (median of rounds "
            f"{', '.join(f'{p99:.1f}' for p99 in patch16.round_p99s)})",
            patch16.p99_ms < 30,
        ),
        (f">= 2,000 durable POSTs/s at {n}", f"{post.rps:,.0f} /s", post.rps >= 2000),
        (
            f"POST p50 at {n} <= 1.5 x p50 at {m}",
            f"{post.p50_ms:.2f} / {first_post.p50_ms:.2f} ms = {ratio:.2f} x",
            ratio <= 1.5,
        ),
        (f"start-up with {n} < 3 s", f"{large.startup_s:.2f} s", large.startup_s < 3),
        (
            "< 5 KB memory per object",
            f"{kb(per_object)} (whole VmRSS / objects)",
            per_object < 5000,
        ),
    ]


def write_report(section: str, document: Path) -> None:
    block = f"{START_MARK}\n{section}\n{END_MARK}"
    if document.exists() and START_MARK in (text := document.read_text()) and END_MARK in text:
        before, rest = text.split(START_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        document.write_text(before + block + after)
    else:
        document.parent.mkdir(parents=True, exist_ok=True)
        document.write_text(f"# Performance\n\n{block}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating baseline/gateway rounds per scenario"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-report", action="store_true", help="print only; leave the doc alone")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    info = machine()
    print(f"{info['date']}: {info['nproc']} x {info['cpu']}, {info['memory']}")
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as folder:
        work = Path(folder)
        load = Load(ensure_wrk(), work, args.duration, args.connections, args.rounds)
        print(f"load generator: {load.name}")
        print("choosing what to serve:")
        target = choose_target(work)
        print(f"  serving {target.label} at {target.route}")
        runs = [measure_size(0, target, load, work)]
        with Baseline(load, work) as baseline:
            for objects in sizes:
                print(f"{objects:,} objects:")
                runs.append(measure_size(objects, target, load, work, baseline))
                run = runs[-1]
                print(
                    f"  start-up {run.startup_s:.2f} s, search indexes built after "
                    f"{run.ready_s:.2f} s, VmRSS {run.rss_kb / 1024:.0f} MiB"
                )
        print("the audit trail's cost:")
        audit = measure_audit_cost(load, work)
    section = report(info, target, load, runs, args.duration) + "\n".join(audit_report(audit))
    print()
    print(section)
    if not args.no_report:
        write_report(section, args.output)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
