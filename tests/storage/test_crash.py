"""kill -9 during concurrent POSTs and PATCHes: every acknowledged object survives, the data file
is readable, and no object is without its audit entries nor an entry without its change.

The gateway runs as a real process; it is killed with SIGKILL in the middle of a stream of
concurrent writes, three times on the same data file (with a small compaction threshold, so that
kills also land during compactions), then opened once more to check every acknowledged id.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ITEM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/schemas/crash-item.schema.json",
    "title": "Crash item",
    "version": "1.0.0",
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "n": {"type": "integer"},
        "parts": {
            "type": "array",
            "items": {"type": "object", "properties": {"code": {"type": "string"}}},
        },
    },
}
ROUTE = "/api/crash-item"
ROUNDS = 3
WRITERS = 8
POST_SECONDS = 0.6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gateway:
    def __init__(self, folder: Path, database: Path) -> None:
        self.port = free_port()
        environment = {
            **os.environ,
            "GATEWAY_PLUGINS": "",
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_STORE_COMPACT_RECORDS": "150",
        }
        command = [
            sys.executable,
            "-m",
            "gateway_core.cli",
            "serve",
            "--database",
            str(database),
            "--port",
            str(self.port),
            "--schemas",
            str(folder / "schemas"),
        ]
        self.process = subprocess.Popen(
            command, cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                pytest.fail(f"the gateway stopped on start-up: {error}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail("the gateway did not answer within 30 s")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(
                method, path, json.dumps(body) if body is not None else None, headers
            )
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)  # graceful: uvicorn shuts down, then re-raises it
        assert self.process.wait(30) in (0, -signal.SIGTERM)


def post_until_stopped(
    port: int, writer: int, stop: threading.Event, acknowledged: list[str]
) -> None:
    """POST on one keep-alive connection until told to stop or the server goes away."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    number = 0
    try:
        while not stop.is_set():
            number += 1
            body = {
                "name": f"w{writer}-{number}",
                "n": number,
                "parts": [{"code": f"c{number}"}] * 3,
            }
            connection.request(
                "POST", ROUTE, json.dumps(body), {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            content = response.read()
            if response.status != 201:
                continue
            created = json.loads(content)["id"]
            acknowledged.append(created)
            connection.request(
                "PATCH",
                f"{ROUTE}/{created}",
                json.dumps({"n": -number}),
                {"Content-Type": "application/json"},
            )
            connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass  # the server was killed: requests in flight were never acknowledged
    finally:
        connection.close()


def test_acknowledged_posts_survive_sigkill(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "item.schema.json").write_text(json.dumps(ITEM_SCHEMA))
    database = tmp_path / "data" / "gateway.json"
    acknowledged: list[str] = []
    for _ in range(ROUNDS):
        gateway = Gateway(tmp_path, database)
        before = len(acknowledged)
        stop = threading.Event()
        writers = [
            threading.Thread(target=post_until_stopped, args=(gateway.port, n, stop, acknowledged))
            for n in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        time.sleep(POST_SECONDS)
        gateway.kill()  # mid-stream: the writers are still posting
        stop.set()
        for thread in writers:
            thread.join(15)
        assert len(acknowledged) > before, "no POST was acknowledged in this round"
        json.loads(database.read_text())  # the data file is always whole JSON

    gateway = Gateway(tmp_path, database)
    try:
        status, page = gateway.request("GET", f"{ROUTE}?_limit=1&_fields=id")
        assert status == 200 and page["total"] >= len(acknowledged)
        missing = [i for i in acknowledged if gateway.request("GET", f"{ROUTE}/{i}")[0] != 200]
        assert missing == []
    finally:
        gateway.stop()
    stored = json.loads(database.read_text())
    items = {document["id"]: document for document in stored[ITEM_SCHEMA["$id"]].values()}
    assert set(acknowledged) <= set(items)
    assert not database.with_name(database.name + ".log").exists()
    versions: dict[str, set[int]] = {}
    for entry in stored["gateway:audittrail"].values():
        versions.setdefault(entry["data"]["object"], set()).add(entry["data"]["version"])
    assert set(versions) == set(items)  # no entry without its object, no object without entries
    for object_id, document in items.items():
        assert versions[object_id] == set(range(1, document.get("version", 1) + 1)), object_id
