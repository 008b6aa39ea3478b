"""Real HTTP servers on 127.0.0.1 for tests: an ASGI app under uvicorn in a thread, and the
fakes of external systems (a Haal Centraal BRP, a webhook receiver)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp


@contextmanager
def serving(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """`app` served on 127.0.0.1 (a free port unless given) until the block ends; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


PERSONS = {
    "999993653": {"voornamen": "Jan", "geslachtsnaam": "Jansen", "geboortedatum": "1970-01-01"},
    "999990019": {"voornamen": "Piet", "geslachtsnaam": "Bakker", "geboortedatum": "1980-02-02"},
}


@dataclass
class FakeBrp:
    """Haal Centraal BRP Personen API 2 (`POST /personen`, RaadpleegMetBurgerservicenummer).
    `mode`: ok, slow (answers after `delay` seconds), garbage (HTML), error (500)."""

    mode: str = "ok"
    delay: float = 5.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    persons: dict[str, dict[str, str]] = field(default_factory=lambda: dict(PERSONS))

    def person(self, bsn: str) -> dict[str, Any]:
        known = self.persons[bsn]
        return {
            "burgerservicenummer": bsn,
            "naam": {"voornamen": known["voornamen"], "geslachtsnaam": known["geslachtsnaam"]},
            "geboorte": {"datum": {"type": "Datum", "datum": known["geboortedatum"]}},
        }

    async def personen(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "garbage":
            return Response(
                b"<html>Service tijdelijk niet beschikbaar</html>", 200, media_type="text/html"
            )
        if self.mode == "error":
            return Response(b'{"status": 500}', 500, media_type="application/problem+json")
        if body.get("type") != "RaadpleegMetBurgerservicenummer" or not body.get("fields"):
            return Response(b'{"status": 400}', 400, media_type="application/problem+json")
        found = [self.person(bsn) for bsn in body["burgerservicenummer"] if bsn in self.persons]
        return Response(
            orjson.dumps({"type": "RaadpleegMetBurgerservicenummer", "personen": found}),
            media_type="application/json",
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/haalcentraal/api/brp/personen", self.personen, methods=["POST"])]
        )


@dataclass
class Receiver:
    """A webhook receiver: answers `failures` requests with 503 first, then 204."""

    failures: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        self.attempts += 1
        self.headers.append(dict(request.headers))
        if self.attempts <= self.failures:
            return Response(status_code=503)
        self.messages.append(orjson.loads(await request.body()))
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.receive, methods=["POST"])])

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.messages)} of {count} messages arrived in {timeout} s "
                    f"({self.attempts} attempts)"
                )
            time.sleep(0.02)
        return self.messages
