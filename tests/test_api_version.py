"""`API-Version: <full version>` on every answer, errors included (NL API Design Rules,
/core/version-header): the plugin manifest's version, else the gateway's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_client
from starlette.testclient import TestClient

from gateway_core import __version__
from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings

KIC = "/api/kic/v1"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = Settings(database=str(tmp_path / "db.json"), plugins=("customer-interaction",))
    app = create_app(config, load_gateway(config))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_every_answer_carries_the_api_version(client: TestClient) -> None:
    adres = {"adres": "a@example.org", "omschrijving": "e-mail", "soortDigitaalAdres": "emailadres"}
    created = client.post(f"{KIC}/digitaaladressen", json=adres)
    item = f"{KIC}/digitaaladressen/{created.json()['id']}"
    answers: list[tuple[int, Any]] = [
        (201, created),
        (200, client.get(f"{KIC}/digitaaladressen")),
        (200, client.patch(item, json={"omschrijving": "werk"})),
        (400, client.get(f"{KIC}/digitaaladressen", params={"nope": "1"})),
        (404, client.get(f"{KIC}/digitaaladressen/{uuid.uuid4()}")),
        (404, client.get("/nothing/here")),
        (405, client.put(item, json=adres)),
        (
            415,
            client.post(
                f"{KIC}/digitaaladressen", content=b"x", headers={"content-type": "text/plain"}
            ),
        ),
        (204, client.delete(item)),
        (200, client.get("/health")),
        (200, client.get("/api/openapi.json")),
    ]
    for status, answer in answers:
        assert answer.status_code == status, answer.text
        assert answer.headers["API-Version"] == "1.0.0", (status, answer.request.url)


def test_a_server_error_carries_it_too(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app.state.service, "read", broken)  # type: ignore[attr-defined]
    answer = client.get(f"{KIC}/partijen/{uuid.uuid4()}")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["API-Version"] == "1.0.0"


def test_without_a_plugin_version_it_is_the_gateways(tmp_path: Path, book_schemas: Path) -> None:
    with make_client(tmp_path, [book_schemas]) as client:
        assert client.get("/api/book").headers["API-Version"] == __version__
