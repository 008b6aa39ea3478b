"""Relation values inside documents (ids_at, remove_reference), and what a write leaves behind:
no cyclic garbage from the gateway's own code, so that concurrent writes do not feed the cycle
collector, whose pauses were the tail of PATCH latency (docs/performance.md)."""

from __future__ import annotations

import asyncio
import gc
import types
from pathlib import Path
from typing import Any

import orjson
from conftest import write_json

from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings
from gateway_core.linking import ids_at, remove_reference

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OWNER = "https://ex.org/linking/owner.schema.json"
PET = "https://ex.org/linking/pet.schema.json"


def test_ids_at_reads_through_value_objects_and_arrays() -> None:
    data = {"links": [{"to": "a"}, {"to": ["b", "c"]}, {"other": "x"}, {"to": 5}], "to": "top"}
    assert ids_at(data, "links.to") == ["a", "b", "c"]
    assert ids_at(data, "to") == ["top"]
    assert ids_at(data, "missing.to") == []
    assert ids_at([[{"to": "d"}], {"to": "e"}], "to") == ["d", "e"]


def test_remove_reference_drops_one_id_from_to_one_and_to_many_values() -> None:
    data: dict[str, Any] = {"links": [{"to": "a"}, {"to": ["a", "b"]}, {"to": "c"}]}
    assert remove_reference(data, "links.to", "a") is True
    assert data == {"links": [{}, {"to": ["b"]}, {"to": "c"}]}
    assert remove_reference(data, "links.to", "zz") is False
    assert remove_reference(data, "nothing.here", "a") is False


async def _call(app: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    content = b"" if body is None else orjson.dumps(body)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": content, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(answer) if answer else None


def test_linked_writes_leave_no_cyclic_garbage_of_the_gateways_own(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    pet_link = {"$ref": OWNER, "inversedBy": "pets"}
    pets = {"type": "array", "items": {"$ref": PET}, "inversedBy": "owner"}
    for schema_id, title, properties in (
        (PET, "Pet", {"name": {"type": "string"}, "owner": pet_link}),
        (OWNER, "Owner", {"name": {"type": "string"}, "pets": pets}),
    ):
        write_json(
            schemas / f"{title.lower()}.schema.json",
            {"$schema": DRAFT, "$id": schema_id, "title": title, "type": "object"}
            | {"properties": properties},
        )
    settings = Settings(database=str(tmp_path / "db.json"), schemas=(str(schemas),))
    app = create_app(settings, load_gateway(settings))

    async def writes() -> None:
        status, first = await _call(app, "POST", "/api/owner", {"name": "Ann"})
        assert status == 201, first
        status, second = await _call(app, "POST", "/api/owner", {"name": "Bob"})
        status, pet = await _call(app, "POST", "/api/pet", {"name": "Rex", "owner": first["id"]})
        assert status == 201, pet
        status, moved = await _call(app, "PATCH", f"/api/pet/{pet['id']}", {"owner": second["id"]})
        assert status == 200, moved
        status, owner = await _call(app, "GET", f"/api/owner/{second['id']}")
        assert owner["pets"] == [pet["id"]]
        status, _ = await _call(app, "DELETE", f"/api/pet/{pet['id']}")
        assert status == 204

    async def run() -> list[Any]:
        started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await events.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(
            app({"type": "lifespan", "state": {}}, events.get, started.put)
        )
        assert (await started.get())["type"] == "lifespan.startup.complete"
        await writes()  # warm: first-use caches are not garbage
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                await writes()
            gc.collect()
            garbage = list(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        await events.put({"type": "lifespan.shutdown"})
        await lifespan
        return garbage

    garbage = asyncio.run(run())
    ours = [
        o
        for o in garbage
        if isinstance(o, types.FunctionType) and o.__module__.startswith("gateway_core")
    ]
    assert [f.__qualname__ for f in ours] == []
