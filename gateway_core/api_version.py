"""`API-Version: <full version>` on every answer, errors included (NL API Design Rules,
/core/version-header): a pure ASGI middleware, so it also covers answers made outside the routes
(404, 405, 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"api-version"
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class ApiVersionHeader:
    def __init__(self, app: ASGIApp, version: str) -> None:
        self.app = app
        self.header = (HEADER, version.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_version)


def with_version(handler: ErrorHandler, version: str) -> ErrorHandler:
    """The server-error handler with the header: Starlette sends a 500 from its outermost
    middleware, outside `ApiVersionHeader`."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        response.headers[HEADER.decode()] = version
        return response

    return handle
