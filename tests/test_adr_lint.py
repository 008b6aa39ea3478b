"""The NL GOV API Design Rules linter (Logius' Spectral ruleset, vendored in tests/tools/adr with
its licence and source) on the customer-interaction API's document: no errors and no warnings,
with and without `auth` (the security schemes and scopes are in the document then)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tools.npm_tools import ADR_RULESET, npm_tool

from gateway_core.app import api_description, load_gateway
from gateway_core.config import Settings
from gateway_core.sections import read_auth

SPECTRAL_SECONDS = 120
ERROR, WARNING = 0, 1


def lint(document: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    spectral = npm_tool("spectral")
    target = folder / "openapi.json"
    target.write_text(json.dumps(document), encoding="utf-8")
    command = [str(spectral), "lint", "-r", str(ADR_RULESET), "-f", "json", "-q", str(target)]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=SPECTRAL_SECONDS, check=False
    )
    assert run.stdout.strip().startswith("["), run.stderr[-2000:]
    results: list[dict[str, Any]] = json.loads(run.stdout)
    return results


@pytest.mark.parametrize(
    "auth", [None, {"clients": [{"id": "kiss", "api_key": "k", "scopes": []}]}]
)
def test_the_api_passes_the_adr_linter(tmp_path: Path, auth: dict[str, Any] | None) -> None:
    config = Settings(
        plugins=("customer-interaction",), auth=read_auth(auth, "test") if auth else None
    )
    results = lint(api_description(config, load_gateway(config)), tmp_path)
    found = [
        (r["code"], ".".join(map(str, r["path"])), r["message"])
        for r in results
        if r["severity"] <= WARNING
    ]
    assert found == []


def test_the_linter_finds_what_it_should(tmp_path: Path) -> None:
    """Not vacuous: a document without the version header, servers and contact fails (one
    path of it, to keep the run short)."""
    config = Settings(plugins=("customer-interaction",))
    document = api_description(config, load_gateway(config))
    document["paths"] = {"/partijen": document["paths"]["/partijen"]}
    del document["servers"], document["info"]["contact"]
    document["components"]["headers"]["API-Version"]["required"] = True
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                for response in operation.get("responses", {}).values():
                    response.get("headers", {}).pop("API-Version", None)
    codes = {r["code"] for r in lint(document, tmp_path) if r["severity"] == ERROR}
    assert {"oas3-api-servers", "info-contact", "nlgov:missing-version-header"} <= codes
