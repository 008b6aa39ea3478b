"""Sources (docs/events.md): configuration, authentication towards the source, and failures that
become 502/504 problems naming the source, never a 500 and never a wait past the timeout."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from servers import free_port, serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway_core.errors import BadGateway, ConfigError, GatewayTimeout, ProblemError
from gateway_core.sections import read_sources
from gateway_core.sources import OutboundHttp, Sources


async def echo(request: Request) -> Response:
    mode = request.path_params["mode"]
    if mode == "slow":
        await asyncio.sleep(3)
    if mode == "fail":
        return Response(b"broken", 503)
    if mode == "garbage":
        return Response(b"<html>", 200, media_type="text/html")
    return JSONResponse({"headers": dict(request.headers), "body": (await request.body()).decode()})


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = Starlette(routes=[Route("/{mode}", echo, methods=["GET", "POST"])])
    with serving(app) as url:
        yield url


def call(config: dict[str, Any], path: str, **kwargs: Any) -> Any:
    async def run() -> Any:
        http = OutboundHttp()
        try:
            sources = Sources(read_sources({"upstream": config}, "gateway.yaml"), http)
            return await sources.request("upstream", "POST", path, **kwargs)
        finally:
            await http.close()

    return asyncio.run(run())


def test_a_call_sends_the_configured_headers_and_body(upstream: str) -> None:
    response = call({"location": upstream, "headers": {"X-Gemeente": "0363"}}, "ok", body={"a": 1})
    assert response.status == 200
    echoed = response.json()
    assert echoed["headers"]["x-gemeente"] == "0363"
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["body"] == '{"a":1}'


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        ({"auth": "apikey", "apikey": "k-123", "authorizationHeader": "X-Api-Key"}, "apikey"),
        ({"auth": "basic", "username": "gw", "password": "pw"}, "basic"),
        ({"auth": "jwt", "jwtId": "gateway", "secret": "s" * 40}, "jwt"),
    ],
)
def test_authentication_towards_the_source(upstream: str, auth: dict[str, str], check: str) -> None:
    headers = call({"location": upstream, **auth}, "ok").json()["headers"]
    if check == "apikey":
        assert headers["x-api-key"] == "k-123"
    elif check == "basic":
        assert headers["authorization"] == "Basic " + base64.b64encode(b"gw:pw").decode()
    else:
        scheme, token = headers["authorization"].split(" ")
        claims = jwt.decode(token, "s" * 40, algorithms=["HS256"])
        assert scheme == "Bearer"
        assert claims["client_id"] == "gateway"
        assert claims["exp"] > time.time()


def test_a_slow_source_is_a_504_within_its_timeout(upstream: str) -> None:
    started = time.monotonic()
    with pytest.raises(GatewayTimeout) as problem:
        call({"location": upstream, "timeout": 0.5}, "slow")
    assert time.monotonic() - started < 2.5  # the source answers after 3 s
    assert problem.value.status == 504
    assert "'upstream'" in problem.value.detail


def test_a_source_that_is_down_is_a_502() -> None:
    with pytest.raises(BadGateway) as problem:
        call({"location": f"http://127.0.0.1:{free_port()}", "timeout": 2}, "ok")
    assert "'upstream' could not be reached" in problem.value.detail


def test_a_server_error_is_a_502(upstream: str) -> None:
    with pytest.raises(BadGateway, match="'upstream' answered 503"):
        call({"location": upstream}, "fail")


def test_garbage_is_a_502_when_read_as_json(upstream: str) -> None:
    response = call({"location": upstream}, "garbage")
    with pytest.raises(BadGateway, match="not JSON"):
        response.json()


def test_a_disabled_or_unknown_source_is_a_502(upstream: str) -> None:
    with pytest.raises(BadGateway, match="disabled"):
        call({"location": upstream, "isEnabled": False}, "ok")

    async def unknown() -> None:
        await Sources({}, OutboundHttp()).request("nowhere", "GET")

    with pytest.raises(ProblemError, match="'nowhere' is not configured"):
        asyncio.run(unknown())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"location": "ftp://x"}, "location"),
        ({"location": "https://x", "auth": "oauth"}, "not one of"),
        ({"location": "https://x", "auth": "apikey"}, "needs apikey"),
        ({"location": "https://x", "timeout": 0}, "timeout"),
        ({"location": "https://x", "retries": 3}, "unknown key"),
        ({"location": "https://x", "headers": {"X": 1}}, "headers"),
    ],
)
def test_bad_source_configuration_names_the_place(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        read_sources({"brp": config}, "gateway.yaml")
    assert "sources.brp" in str(error.value)
