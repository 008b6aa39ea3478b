"""Plugins: discovery through entry points, `gateway plugins`, `gateway install [--data]`, fixtures.

Uses the tiny library plugin in tests/plugins, announced through a dist-info folder on sys.path,
exactly as an installed distribution would be.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway_core.app import create_app, load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.plugins import discover

PLUGINS = Path(__file__).resolve().parent / "plugins"
BOOKS = "/api/library/v1/books"


@pytest.fixture()
def library_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Announce the library plugin (from a copy, so tests may break its fixtures)."""
    site = tmp_path / "site"
    shutil.copytree(PLUGINS / "library_plugin", site / "library_plugin")
    dist = site / "library_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: library-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gateway.plugins]\nlibrary = library_plugin:plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(__import__("sys").modules, "library_plugin", raising=False)
    return site / "library_plugin"


def client_for(database: Path) -> TestClient:
    settings = Settings(database=str(database), plugins=("library",))
    return TestClient(create_app(settings, load_gateway(settings)))


def test_plugin_is_discovered_through_its_entry_point(library_installed: Path) -> None:
    names = {plugin.name for plugin in discover()}
    assert "library" in names


def test_gateway_plugins_lists_objecttypes_and_endpoints(
    library_installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--plugin", "library"]) == 0
    out = capsys.readouterr().out
    assert "library: Library API" in out
    assert "Book (https://example.org/library.book.schema.json): /api/library/v1/books" in out
    assert "Address (https://example.org/library.address.schema.json): value object" in out


def test_install_with_data_loads_fixtures_idempotently(
    library_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "db.json"
    args = ["install", "library", "--data", "--database", str(database), "--plugin", "library"]
    assert main(args) == 0
    assert "4 created, 0 replaced" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 created, 4 replaced" in capsys.readouterr().out
    with client_for(database) as client:
        books = client.get(BOOKS).json()
        assert books["total"] == 2
        havelaar = client.get(f"{BOOKS}/8a1f6c2e-0d4b-4a61-9d1e-2b7c5f3e9a01").json()
        assert havelaar["copies"] == 2
        assert (
            client.get(f"{BOOKS}/8a1f6c2e-0d4b-4a61-9d1e-2b7c5f3e9a02").json()["copies"] == 1
        )  # default
        member = client.get("/api/library/v1/members/5c3e0b9d-7f21-4e8a-b6c4-1d2e3f4a5b01").json()
        assert member["loans"] == [
            "c0ffee00-1234-4abc-8def-000000000001"
        ]  # the two-way link, filled
        assert member["embedded"]["loans"][0]["due"] == "2026-12-01"
        assert member["address"] == {"street": "Markt 1", "city": "Delft"}  # value object inline


def test_install_without_data_loads_nothing(library_installed: Path, tmp_path: Path) -> None:
    database = tmp_path / "db.json"
    assert main(["install", "library", "--database", str(database), "--plugin", "library"]) == 0
    with client_for(database) as client:
        assert client.get(BOOKS).json()["total"] == 0


def test_invalid_fixture_is_reported_and_nothing_is_loaded(
    library_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loans = library_installed / "fixtures" / "30-loans.json"
    content = json.loads(loans.read_text())
    content["objects"].append(
        {
            "book": "8a1f6c2e-0d4b-4a61-9d1e-2b7c5f3e9a02",
            "member": "5c3e0b9d-7f21-4e8a-b6c4-1d2e3f4a5b01",
            "due": "tomorrow",
        }
    )
    loans.write_text(json.dumps(content))
    database = tmp_path / "db.json"
    assert (
        main(["install", "library", "--data", "--database", str(database), "--plugin", "library"])
        == 1
    )
    err = capsys.readouterr().err
    assert "30-loans.json#1.due" in err
    with client_for(database) as client:
        assert client.get(BOOKS).json()["total"] == 0
        assert client.get("/api/library/v1/members").json()["total"] == 0


def test_install_of_unknown_plugin_fails(
    library_installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["install", "nope", "--database", str(tmp_path / "db.json"), "--plugin", "library"])
        == 1
    )
    assert "nope" in capsys.readouterr().err


def test_manifest_methods_and_value_objects(library_installed: Path, tmp_path: Path) -> None:
    with client_for(tmp_path / "db.json") as client:
        answer = client.delete("/api/library/v1/members/5c3e0b9d-7f21-4e8a-b6c4-1d2e3f4a5b01")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, PATCH"  # the item route: POST belongs to the list
        assert answer.headers["content-type"] == "application/problem+json"
        index = {t["title"]: t for t in client.get("/api").json()["objecttypes"]}
        assert index["Address"]["endpoints"] == []
        assert index["Loan"]["endpoints"] == ["/api/library/v1/loans"]
        created = client.post(BOOKS, json={"title": "Nooit meer slapen", "isbn": "9789025301445"})
        assert created.status_code == 201
        changed = client.patch(created.headers["location"], json={"isbn": "9789025301446"})
        assert changed.status_code == 400
        assert changed.json()["invalidParams"][0]["code"] == "immutable"
