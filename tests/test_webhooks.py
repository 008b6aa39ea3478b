"""Webhooks (docs/events.md): ZGW notifications from a durable outbox written with the change,
delivered at least once with retries, to a local receiver; also across a kill -9."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTHOR_ID, BOOK_ID, make_client, valid_book
from servers import Receiver, free_port, serving
from starlette.testclient import TestClient

from gateway_core.cli import main
from gateway_core.sections import read_webhooks

PUBLIC = "https://gateway.example.nl"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    fake = Receiver()
    with serving(fake.app()) as url:
        yield fake, f"{url}/hook"


def hooks(url: str, **extra: Any) -> Any:
    return read_webhooks(
        [{"url": url, "first_retry_seconds": 0.05, "max_retry_seconds": 0.2, **extra}], "test"
    )


def outbox(client: TestClient, status: str | None = None) -> list[dict[str, Any]]:
    response = client.get("/api/admin/outbox", params={"status": status} if status else {})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def wait_until_empty(client: TestClient, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while outbox(client):
        assert time.monotonic() < deadline, outbox(client)
        time.sleep(0.05)


def test_every_change_is_notified_in_the_zgw_shape(
    tmp_path: Path, book_schemas: Path, database: str, receiver: tuple[Receiver, str]
) -> None:
    fake, url = receiver
    webhooks = hooks(url, headers={"Authorization": "Token hook-secret"})
    with make_client(
        tmp_path, [book_schemas], database=database, webhooks=webhooks, public_url=PUBLIC
    ) as client:
        book = client.post("/api/book", json=valid_book()).json()
        client.patch(f"/api/book/{book['id']}", json={"pages": 12})
        client.put(f"/api/book/{book['id']}", json=valid_book(pages=13))
        client.delete(f"/api/book/{book['id']}")
        messages = fake.wait_for(4)
        wait_until_empty(client)
    resource_url = f"{PUBLIC}/api/book/{book['id']}"
    assert [m["actie"] for m in messages] == ["create", "partial_update", "update", "destroy"]
    for message in messages:
        assert message["kanaal"] == "book"
        assert message["resource"] == "book"
        assert message["hoofdObject"] == message["resourceUrl"] == resource_url
        assert message["kenmerken"] == {"objecttype": BOOK_ID}
        assert message["aanmaakdatum"].endswith("+00:00")
    assert fake.headers[0]["authorization"] == "Token hook-secret"


def test_deliveries_are_retried_while_the_receiver_answers_503(
    tmp_path: Path, book_schemas: Path, database: str, receiver: tuple[Receiver, str]
) -> None:
    fake, url = receiver
    fake.failures = 3
    with make_client(tmp_path, [book_schemas], database=database, webhooks=hooks(url)) as client:
        client.post("/api/book", json=valid_book())
        assert fake.wait_for(1)[0]["actie"] == "create"
        wait_until_empty(client)
    assert fake.attempts == 4  # three 503s, then delivered


def test_a_message_that_keeps_failing_is_kept_as_failed(
    tmp_path: Path, book_schemas: Path, database: str, receiver: tuple[Receiver, str]
) -> None:
    fake, url = receiver
    fake.failures = 1000
    with make_client(
        tmp_path, [book_schemas], database=database, webhooks=hooks(url, max_attempts=3)
    ) as client:
        client.post("/api/book", json=valid_book())
        deadline = time.monotonic() + 20
        while not outbox(client, "failed"):
            assert time.monotonic() < deadline, outbox(client)
            time.sleep(0.05)
        failed = outbox(client, "failed")[0]
        assert failed["attempts"] == 3
        assert failed["lastError"] == f"Webhook receiver {url} answered 503."
        assert outbox(client, "pending") == []
    assert fake.attempts == 3
    if "://" not in database:  # the store is a file: `gateway outbox` reads it once the app is gone
        assert main(["outbox", "--database", database, "--schemas", str(book_schemas)]) == 0


def test_the_schemas_filter_and_failed_writes_send_nothing(
    tmp_path: Path, book_schemas: Path, database: str, receiver: tuple[Receiver, str]
) -> None:
    fake, url = receiver
    only_authors = hooks(url, schemas=[AUTHOR_ID])
    with make_client(tmp_path, [book_schemas], database=database, webhooks=only_authors) as client:
        assert client.post("/api/book", json=valid_book()).status_code == 201
        assert client.post("/api/author", json={"name": ""}).status_code == 201
        assert client.post("/api/author", json={"born": "x"}).status_code == 400  # invalid
        messages = fake.wait_for(1)
        time.sleep(0.3)
        assert outbox(client) == []
    assert [m["resource"] for m in messages] == ["author"]


def test_the_message_is_in_the_outbox_as_soon_as_the_write_is_acknowledged(
    tmp_path: Path, book_schemas: Path, database: str
) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"
    with make_client(
        tmp_path, [book_schemas], database=database, webhooks=hooks(down, max_retry_seconds=60)
    ) as client:
        book = client.post("/api/book", json=valid_book()).json()
        pending = outbox(client, "pending")
        assert [m["message"]["resourceUrl"].rsplit("/", 1)[1] for m in pending] == [book["id"]]
        assert pending[0]["url"] == down


def test_the_outbox_endpoint_needs_the_admin_scope(tmp_path: Path, book_schemas: Path) -> None:
    from gateway_core.sections import read_auth

    auth = read_auth(
        {
            "clients": [
                {"id": "a", "api_key": "k" * 20, "scopes": ["schemas.*.*"]},
                {"id": "b", "api_key": "l" * 20, "scopes": ["admin.GET"]},
            ]
        },
        "test",
    )
    with make_client(tmp_path, [book_schemas], auth=auth) as client:
        assert client.get("/api/admin/outbox").status_code == 401
        refused = client.get("/api/admin/outbox", headers={"Authorization": "Token " + "k" * 20})
        assert refused.status_code == 403
        assert refused.json()["scope"] == "admin.GET"
        allowed = client.get("/api/admin/outbox", headers={"Authorization": "Token " + "l" * 20})
        assert allowed.status_code == 200
        bad = client.get(
            "/api/admin/outbox?status=x", headers={"Authorization": "Token " + "l" * 20}
        )
        assert bad.status_code == 400


# -- kill -9: an acknowledged write's notification survives ---------------------------------------


def start_gateway(folder: Path, database: str, config: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "gateway_core.cli", "serve", "--config", str(config),
        "--database", database, "--port", str(port), "--schemas", str(folder),
    ]  # fmt: skip
    environment = {**os.environ, "GATEWAY_PLUGINS": "", "GATEWAY_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the gateway did not start")


def test_a_notification_survives_a_kill_9_before_delivery(
    tmp_path: Path, book_schemas: Path, database: str
) -> None:
    receiver_port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps({"webhooks": [{"url": f"http://127.0.0.1:{receiver_port}/hook",
                                  "first_retry_seconds": 0.1, "max_retry_seconds": 0.5}]}),
        encoding="utf-8",
    )  # fmt: skip
    port = free_port()
    gateway = start_gateway(book_schemas, database, config, port)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps(valid_book())
        connection.request("POST", "/api/book", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 201  # acknowledged, while the receiver is down
        created = json.loads(answer.read())
    finally:
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(timeout=10)
    fake = Receiver()
    with serving(fake.app(), port=receiver_port):
        restarted = start_gateway(book_schemas, database, config, free_port())
        try:
            message = fake.wait_for(1)[0]
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=30)
    assert message["actie"] == "create"
    assert message["resourceUrl"].endswith(f"/api/book/{created['id']}")


def test_credentials_in_a_webhook_url_are_never_stored(tmp_path: Path, book_schemas: Path) -> None:
    down = f"http://hook-user:s3cret@127.0.0.1:{free_port()}/hook"
    with make_client(
        tmp_path, [book_schemas], webhooks=hooks(down, max_retry_seconds=60)
    ) as client:
        client.post("/api/book", json=valid_book())
        pending = outbox(client)
        assert pending[0]["url"] == f"http://***@127.0.0.1:{down.rsplit(':', 1)[1]}"
        assert "s3cret" not in json.dumps(pending)
    assert "s3cret" not in (tmp_path / "db.json").read_text() + (
        (tmp_path / "db.json.log").read_text() if (tmp_path / "db.json.log").exists() else ""
    )
