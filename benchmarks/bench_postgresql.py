"""`make bench`, PostgreSQL part: the gateway on PostgreSQL at 100,000 Partij objects, 1 and 2 workers.

A throwaway PostgreSQL cluster (tests/pg/cluster.py, durable: fsync and synchronous commit on) in
a temporary folder; the 100,000 records (benchmarks/partijen.py, as for the TinyDB benchmark)
written to a TinyDB data file and copied in with `gateway migrate` (timed); then `gateway serve
--database postgresql://... --workers N` for N = 1 and 2, each driven with the same scenarios and
load generator as benchmarks/bench.py (GET item, BSN list query, `_search`, POST, PATCH). The
results go to their own section of docs/performance.md (between the bench-postgresql markers,
appended when absent; the TinyDB section is left alone).

    .venv/bin/python benchmarks/bench_postgresql.py [--objects 100000] [--workers 1,2] [--duration 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "tests"))

from bench import (  # noqa: E402
    PATCH_CONNECTIONS,
    SCENARIOS,
    SEARCH_CONNECTIONS,
    Baseline,
    Load,
    Result,
    Server,
    Target,
    choose_target,
    ensure_wrk,
    machine,
    measurement,
    ratio_target,
    rss_kb,
    run_scenarios,
    verdict,
    warm_up,
)
from partijen import write_data_file  # noqa: E402
from pg.cluster import Cluster, find_binaries  # noqa: E402

START_MARK, END_MARK = "<!-- bench-postgresql:start -->", "<!-- bench-postgresql:end -->"


@dataclass
class WorkersRun:
    workers: int
    startup_s: float
    rss_kb: int
    results: dict[str, Result] = field(default_factory=dict)


def gateway_serve(url: str, workers: int, target: Target) -> list[str]:
    gateway = Path(sys.executable).with_name("gateway")
    serve = [str(gateway)] if gateway.exists() else [sys.executable, "-m", "gateway_core.cli"]
    return [
        *serve,
        "serve",
        "--database",
        url,
        "--workers",
        str(workers),
        "--port",
        "{port}",
        *target.arguments,
    ]


def process_tree_rss(pid: int) -> int:
    """VmRSS of the server and its worker processes."""
    total = rss_kb(pid)
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    for child in children:
        with contextlib.suppress(OSError, ValueError):
            total += rss_kb(int(child))
    return total


def measure(
    url: str,
    workers: int,
    target: Target,
    load: Load,
    work: Path,
    ids: list[str],
    bsns: list[str],
    baseline: Baseline,
) -> WorkersRun:
    folder = Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=work))
    server = Server(gateway_serve(url, workers, target), target.environment, folder)
    run = WorkersRun(workers, server.started, 0)
    try:
        sample = warm_up(load, server.port, target.route, ids, bsns, seed=workers)
        run.rss_kb = process_tree_rss(server.process.pid)
        run.results = run_scenarios(load, server.port, target.route, *sample, baseline)
    finally:
        server.stop()
    return run


def report(
    info: dict[str, str],
    load: Load,
    target: Target,
    objects: int,
    migrate_s: float,
    database_mb: float,
    runs: list[WorkersRun],
    duration: float,
) -> str:
    bare = [r.baseline_rps for run in runs for r in run.results.values()]
    lines = [
        "## PostgreSQL backend",
        "",
        f"Measured {info['date']} by `make bench` (benchmarks/bench_postgresql.py), commit "
        f"{info['commit']}.",
        "",
        f"- Machine: as above ({info['nproc']} CPUs, {info['cpu']}); PostgreSQL "
        f"{info['postgresql']} runs on it too (a throwaway cluster: fsync and synchronous commit "
        "on, shared_buffers 256 MB), beside the gateway's workers and the load generator.",
        f"- Data: {objects:,} Partij records ({target.route}), copied in with `gateway migrate` "
        f"from a TinyDB file in {migrate_s:.1f} s (one transaction); the database then takes "
        f"{database_mb:,.0f} MB (table, TOAST and indexes).",
        f"- Load: {load.name}, {load.connections} connections ({SEARCH_CONNECTIONS} for "
        f"`_search`, {PATCH_CONNECTIONS} for the second PATCH), {measurement(load)}; "
        "`gateway serve --workers N --database postgresql://...`. Baseline (bare Starlette, one "
        f"worker, served beside the gateway and measured right before each round with the same "
        f"connections): {min(bare):,.0f} to {max(bare):,.0f} req/s (rows' averages); a row's "
        "share is the median of its rounds' shares.",
        "",
        "| workers | request | req/s | baseline req/s | of baseline | p50 ms | p99 ms | failed |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for scenario, result in run.results.items():
            lines.append(
                f"| {run.workers} | {SCENARIOS[scenario]} | {result.rps:,.0f} "
                f"| {result.baseline_rps:,.0f} | {result.share:.2f} | {result.p50_ms:.2f} "
                f"| {result.p99_ms:.2f} | {result.failed} |"
            )
    lines += [
        "",
        "| workers | start-up (process start to first 200 on /health) | VmRSS, all processes |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {run.workers} | {run.startup_s:.2f} s | {run.rss_kb / 1024:.0f} MiB |" for run in runs
    ]
    lines += ["", "| target (issue 17) | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {verdict(ok)} |" for name, measured, ok in targets(runs)]
    failures = sum(r.failed for run in runs for r in run.results.values())
    if failures:
        lines += ["", f"**{failures} requests failed** (errors or non-2xx answers): see the table."]
    return "\n".join(lines)


READS = ("get_item", "list_bsn", "list_dotted")


def targets(runs: list[WorkersRun]) -> list[tuple[str, str, bool]]:
    by_workers = {run.workers: run.results for run in runs}
    found = []
    one, two = by_workers.get(1), by_workers.get(2)
    if one is not None:
        for scenario in READS:
            found.append(ratio_target(f"{SCENARIOS[scenario]}, 1 worker", one[scenario], 0.30))
        found.append(  # issue 17's `_search` target, for both backends
            ratio_target(f"{SCENARIOS['list_search']}, 1 worker", one["list_search"], 0.10)
        )
    if one is not None and two is not None:
        for scenario in (*READS, "list_search"):
            # the machine's speed drifts between the two runs (minutes apart), so each is taken
            # against the baseline measured right before it, and the shares are compared
            a, b = one[scenario], two[scenario]
            found.append(
                (
                    f"{SCENARIOS[scenario]}: 2 workers faster than 1",
                    f"{a.rps:,.0f} -> {b.rps:,.0f} req/s; of baseline {a.share:.3f} -> "
                    f"{b.share:.3f}",
                    b.share > a.share,
                )
            )
    return found


def write_report(section: str, document: Path) -> None:
    """Replace our own section, or append it: the TinyDB section stays as bench.py wrote it."""
    block = f"{START_MARK}\n{section}\n{END_MARK}"
    text = document.read_text() if document.exists() else "# Performance\n"
    if START_MARK in text and END_MARK in text:
        before, rest = text.split(START_MARK, 1)
        text = before + block + rest.split(END_MARK, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating baseline/gateway rounds per scenario"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-report", action="store_true", help="print only; leave the doc alone")
    args = parser.parse_args(argv)
    bindir = find_binaries()
    if bindir is None:
        print("PostgreSQL server binaries not found (apt-get install postgresql): skipped")
        return 0
    info = machine()
    print(f"PostgreSQL benchmark, {info['date']}: {info['nproc']} x {info['cpu']}")
    cluster = Cluster(bindir, durable=True)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-pg-") as folder:
        work = Path(folder)
        try:
            cluster.start()
            version = subprocess.run(
                [str(bindir / "postgres"), "--version"], capture_output=True, text=True
            ).stdout
            found = re.search(r"\d+\.\d+", version)
            info["postgresql"] = found.group(0) if found else "?"
            load = Load(ensure_wrk(), work, args.duration, args.connections, args.rounds)
            print(f"load generator: {load.name}")
            target = choose_target(work)
            data_file = work / "seed.json"
            ids, bsns = write_data_file(data_file, target.schema_id, args.objects)
            url = cluster.fresh_database()
            began = time.perf_counter()
            copied = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gateway_core.cli",
                    "migrate",
                    "--from",
                    str(data_file),
                    "--to",
                    url,
                ],
                capture_output=True,
                text=True,
            )
            migrate_s = time.perf_counter() - began
            if copied.returncode:
                raise SystemExit(f"gateway migrate failed: {copied.stderr}")
            print(f"{args.objects:,} objects migrated in {migrate_s:.1f} s")
            import psycopg

            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE objects")
                size = connection.execute("SELECT pg_database_size(current_database())")
                row = size.fetchone()
                database_mb = row[0] / 2**20 if row else 0.0
            runs = []
            with Baseline(load, work) as baseline:
                for workers in (int(n) for n in args.workers.split(",")):
                    print(f"{workers} worker(s):")
                    runs.append(measure(url, workers, target, load, work, ids, bsns, baseline))
        finally:
            cluster.stop()
    section = report(info, load, target, args.objects, migrate_s, database_mb, runs, args.duration)
    print()
    print(section)
    if not args.no_report:
        write_report(section, args.output)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
