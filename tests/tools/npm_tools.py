"""The npm tools of the suite (tests/tools/package.json), installed by `make test` (`npm ci`).

A missing tool skips its test on a developer's machine and fails it under CI=true, like
PostgreSQL and Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent
BIN = TOOLS / "node_modules" / ".bin"
ADR_RULESET = TOOLS / "adr" / "ruleset.yaml"


def npm_tool(name: str) -> Path:
    path = BIN / name
    if path.exists():
        return path
    message = f"{name} is not installed: `make test` runs `npm ci --prefix tests/tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
