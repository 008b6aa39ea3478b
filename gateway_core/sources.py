"""External APIs ("sources", Common Gateway's Source format) and the one pooled HTTP client that
calls them and delivers webhooks. httpx2 is imported here only.

Every call is bounded by its source's `timeout` as a whole (connecting, sending, waiting, reading
the body), and every failure is a ProblemError naming the source: 504 when it did not answer in
time, 502 when it could not be reached or answered with a server error. A caller never waits
longer than the timeout and never gets a 500 for a source's failure.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson

from gateway_core.errors import BadGateway, GatewayTimeout
from gateway_core.schemas.registry import read_json
from gateway_core.sections import SourceConfig, read_source
from gateway_core.tokens import sign


def read_source_files(folder: Path) -> dict[str, SourceConfig]:
    """A plugin's `Source/*.json` files (CG format); the name is the file's `name` or its stem."""
    found: dict[str, SourceConfig] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        document = read_json(path)
        name = document.get("name") if isinstance(document, dict) else None
        name = str(name or path.stem.split(".")[0])
        found[name] = read_source(name, document, str(path))
    return found


MAX_RESPONSE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class SourceResponse:
    source: str
    status: int
    content: bytes
    content_type: str

    def json(self) -> Any:
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            raise BadGateway(
                f"{self.source} answered with something that is not JSON "
                f"(status {self.status}, {len(self.content)} bytes)."
            ) from None


class OutboundHttp:
    """The one pooled HTTP client (created in the running event loop on first use)."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _get(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def send(
        self,
        name: str,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> SourceResponse:
        """One request, bounded by `timeout` seconds in all; failures are problems that start
        with `name` ("Source 'brp'", "Webhook receiver https://...")."""
        content = orjson.dumps(body) if body is not None else None
        sent_headers = {**(headers or {})}
        if content is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            async with asyncio.timeout(timeout):
                response = await self._get().request(
                    method,
                    url,
                    content=content,
                    params=params,
                    headers=sent_headers,
                    timeout=httpx.Timeout(timeout),
                )
                data = response.content
        except (TimeoutError, httpx.TimeoutException):
            raise GatewayTimeout(f"{name} did not answer within {timeout:g} s.") from None
        except httpx.HTTPError as error:
            raise BadGateway(f"{name} could not be reached: {type(error).__name__}.") from None
        if len(data) > MAX_RESPONSE_BYTES:
            raise BadGateway(f"{name} answered with more than {MAX_RESPONSE_BYTES} bytes.")
        if response.status_code >= 500:
            raise BadGateway(f"{name} answered {response.status_code}.")
        return SourceResponse(
            name, response.status_code, data, response.headers.get("content-type", "")
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class Sources:
    """The configured sources by name (and by `$id`), called through one OutboundHttp."""

    def __init__(self, configs: Mapping[str, SourceConfig], http: OutboundHttp) -> None:
        self.configs = dict(configs)
        self._by_reference = {c.reference: c for c in configs.values() if c.reference}
        self.http = http

    def get(self, name: str) -> SourceConfig | None:
        return self.configs.get(name) or self._by_reference.get(name)

    def _auth_headers(self, config: SourceConfig) -> dict[str, str]:
        if config.auth == "apikey":
            return {config.authorization_header: str(config.apikey)}
        if config.auth == "basic":
            pair = f"{config.username}:{config.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if config.auth == "jwt":
            now = int(time.time())
            claims = {
                "iss": config.jwt_id,
                "client_id": config.jwt_id,
                "iat": now,
                "exp": now + 300,
            }
            signed = sign(claims, str(config.secret))
            return {config.authorization_header: f"Bearer {signed}"}
        return {}

    async def request(
        self,
        name: str,
        method: str,
        path: str = "",
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SourceResponse:
        config = self.get(name)
        if config is None:
            raise BadGateway(f"Source {name!r} is not configured (gateway.yaml `sources`).")
        if not config.enabled:
            raise BadGateway(f"Source {name!r} is disabled (isEnabled: false).")
        url = config.location + ("/" + path.lstrip("/") if path else "")
        sent = {**dict(config.headers), **self._auth_headers(config), **(headers or {})}
        return await self.http.send(
            f"Source {config.name!r}",
            method,
            url,
            timeout=config.timeout,
            headers=sent,
            body=body,
            params=params,
        )
