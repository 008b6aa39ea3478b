"""The interactive API page (/api/docs): served from local files, and rendered by a real browser
(headless Chromium) into the list of the partijen operations."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_client, served_demo_gateway
from starlette.testclient import TestClient

KIC = "/api/kic/v1"
BROWSER_SECONDS = 90


@pytest.fixture()
def client(tmp_path: Path, book_schemas: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, [book_schemas]) as test_client:
        yield test_client


def test_the_page_loads_swagger_ui_from_the_gateway_itself(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/api/docs/assets/") for s in sources)  # nothing remote
    assert '"/api/openapi.json"' in page.text
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
    script = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text


def test_a_missing_asset_is_a_problem_404(client: TestClient) -> None:
    response = client.get("/api/docs/assets/nothing-here.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == "/api/docs/assets/nothing-here.js"


@pytest.mark.parametrize("base", ["/gw", ""])  # "" puts the API at the root
def test_the_page_follows_the_base_path(tmp_path: Path, book_schemas: Path, base: str) -> None:
    with make_client(tmp_path, [book_schemas], base_path=base) as client:
        page = client.get(f"{base}/docs").text
        assert f'"{base}/openapi.json"' in page and f"{base}/docs/assets/swagger-ui.css" in page
        assert client.get(f"{base}/openapi.json").status_code == 200
        assert client.get(f"{base}/docs/assets/swagger-ui.css").status_code == 200


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Chromium is not installed (apt-get install chromium; .ci/run does it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture()
def served_demo(tmp_path: Path) -> Iterator[str]:
    with served_demo_gateway(tmp_path) as base:
        yield base


def _rendered(url: str, profile: Path) -> str:
    """The page's DOM once a headless Chromium has run its scripts."""
    browser = _browser()
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    command += [f"--user-data-dir={profile}", "--virtual-time-budget=20000"]
    command += ["--dump-dom", url]
    rendered = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_SECONDS, check=False
    )
    assert "swagger-ui" in rendered.stdout, rendered.stderr[-2000:]
    return rendered.stdout


def test_a_browser_renders_the_partijen_operations(served_demo: str, tmp_path: Path) -> None:
    dom = _rendered(f"{served_demo}/api/docs", tmp_path / "profile")
    assert "Unable to render this definition" not in dom  # Swagger UI read the OpenAPI 3.1 document
    operations = set(
        re.findall(
            r'<div class="opblock opblock-([a-z]+)[^"]*" id="operations-Partij-([A-Za-z_0-9]+)"',
            dom,
        )
    )
    assert operations == {
        ("get", "listPartijen"),
        ("post", "createPartijen"),
        ("get", "readPartijen"),
        ("patch", "updatePartijen"),
        ("delete", "deletePartijen"),
        ("get", "listPartijenAuditTrail"),
    }
    assert 'data-path="/partijen"' in dom and 'data-path="/partijen/{id}"' in dom
    assert KIC in dom  # the server URL


def test_with_auth_the_page_offers_to_enter_a_key(tmp_path: Path) -> None:
    """Swagger UI's Authorize button (API key or JWT), and a lock on each operation."""
    (tmp_path / "gateway.yaml").write_text(
        "auth:\n  anonymous: []\n  clients:\n    - id: kiss\n      api_key: sleutel\n"
        '      scopes: ["schemas.*.GET"]\n',
        encoding="utf-8",
    )
    with served_demo_gateway(tmp_path) as base:
        dom = _rendered(f"{base}/api/docs", tmp_path / "profile")
    assert re.search(r'<button class="btn authorize[^"]*"', dom)
    assert 'id="operations-Partij-listPartijen"' in dom
    assert "authorization__btn" in dom  # the lock of an operation that needs credentials
