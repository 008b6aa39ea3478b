"""`schemathesis run` as a user runs it, against the real gateway serving its demo data, with the
default phases (examples, coverage, fuzzing) and every default check, including "schema-valid
requests are accepted" and "schema-invalid requests are rejected": bounded here to the
operations of one objecttype and a few examples each, with a hard timeout. The full run over all
74 operations (`--max-examples 15`, the command in docs/openapi.md) takes minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import served_demo_gateway

HOOKS = Path(__file__).resolve().parent / "schemathesis" / "hooks.py"
RUN_SECONDS = 240
TAG = "Digitaal Adres"  # list, create, read, change, delete, audit trail


def test_schemathesis_run_finds_no_failures(tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with served_demo_gateway(tmp_path) as base:
        command = [str(schemathesis), "run", f"{base}/api/openapi.json", "--include-tag", TAG]
        command += ["--phases", "examples,coverage,fuzzing", "--max-examples", "5"]
        command += ["--seed", "1", "--no-color", "--request-timeout", "10"]
        environment = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            check=False,
            cwd=tmp_path,
            env=environment,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "6 selected / 74 total" in run.stdout
    assert "No issues found" in run.stdout
