"""HTTP: Starlette routes built from the endpoint model, and the one error -> problem+json mapping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus

import orjson
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_core.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
)
from gateway_core.manifest import Endpoint
from gateway_core.service import ObjectService, list_envelope

log = logging.getLogger("gateway")

_URI_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"  # kept by `quote`; the rest is percent-encoded
_PAGING_PARAMETERS = {"_page", "page", "_start", "start", "_offset", "offset"}


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem_response(error: ProblemError, instance: str) -> Response:
    return Response(
        orjson.dumps(error.problem(instance)),
        status_code=error.status,
        media_type="application/problem+json",
        headers=error.headers,
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc, request.url.path)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: ProblemError = NotFound(f"There is nothing at {request.url.path}.")
    elif exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowed(request.method, [m.strip() for m in allow.split(",") if m.strip()])
    else:
        error = BadRequest(str(exc.detail))
        error.status = exc.status_code
    return problem_response(error, request.url.path)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    error = ProblemError("The gateway failed to handle this request; the error is logged.")
    return problem_response(error, request.url.path)


async def read_json_body(request: Request, max_bytes: int) -> Any:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"The body must be JSON (Content-Type: application/json), got {media_type or 'no Content-Type'!r}."
        )
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"The body is larger than the limit of {max_bytes} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequest("The body is empty; a JSON object is expected.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None


Handler = Callable[[Request], Awaitable[Response]]


def paging_links(request: Request, envelope: dict[str, Any]) -> str:
    """RFC 8288 `Link` header with first/prev/next/last pages (page-based, keeping other parameters)."""
    page, pages = envelope["page"], envelope["pages"]
    raw = request.scope["query_string"].decode("latin-1")
    kept = "&".join(
        # as sent, but never a `>` that would end the <URL>; raw bytes back to themselves
        quote(part, safe=_URI_CHARACTERS, encoding="latin-1")
        for part in raw.split("&")
        if part and unquote_plus(part.partition("=")[0]) not in _PAGING_PARAMETERS
    )
    path = request.scope["path"]
    prefix = f"{path}?{kept}&_page=" if kept else f"{path}?_page="

    def url(number: int) -> str:
        return f"{prefix}{number}"

    relations = [("first", 1)]
    if page > 1:
        relations.append(("prev", min(page - 1, pages)))
    if page < pages:
        relations.append(("next", page + 1))
    relations.append(("last", pages))
    return ", ".join(f'<{url(number)}>; rel="{rel}"' for rel, number in relations)


def _dispatch(endpoint: Endpoint, handlers: dict[str, Handler]) -> Handler:
    allowed = endpoint.allowed(handlers)

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if method not in allowed:
            raise MethodNotAllowed(request.method, allowed)
        return await handlers[method](request)

    return dispatch


def endpoint_handlers(
    endpoint: Endpoint, base_path: str, max_body_bytes: int
) -> tuple[Handler, Handler]:
    """The collection handler (list, create) and the item handler (read, replace, update, delete)."""
    schema_id = endpoint.schema_id

    def service(request: Request) -> ObjectService:
        value: ObjectService = request.app.state.service
        return value

    def params(request: Request) -> list[tuple[str, str]]:
        # what Starlette's QueryParams does, without building its multi-dict on every request
        return parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)

    async def list_objects(request: Request) -> Response:
        gateway = service(request)
        page, query = await gateway.list(schema_id, params(request))
        results = [
            await gateway.present(schema_id, record, endpoint, query) for record in page.items
        ]
        envelope = list_envelope(results, page, query)
        headers = {"X-Total-Count": str(page.total), "Link": paging_links(request, envelope)}
        return JSON(envelope, headers=headers)

    async def create(request: Request) -> Response:
        gateway = service(request)
        record = await gateway.create(schema_id, await read_json_body(request, max_body_bytes))
        location = f"{base_path}{endpoint.route}/{record.id}"
        document = await gateway.present(schema_id, record, endpoint)
        return JSON(document, status_code=201, headers={"Location": location})

    async def read(request: Request) -> Response:
        gateway = service(request)
        query = gateway.item_options(schema_id, params(request))
        record = await gateway.read(schema_id, request.path_params["id"])
        return JSON(await gateway.present(schema_id, record, endpoint, query))

    async def replace(request: Request) -> Response:
        gateway = service(request)
        body = await read_json_body(request, max_body_bytes)
        record = await gateway.replace(schema_id, request.path_params["id"], body)
        return JSON(await gateway.present(schema_id, record, endpoint))

    async def update(request: Request) -> Response:
        gateway = service(request)
        body = await read_json_body(request, max_body_bytes)
        record = await gateway.update(schema_id, request.path_params["id"], body)
        return JSON(await gateway.present(schema_id, record, endpoint))

    async def delete(request: Request) -> Response:
        await service(request).delete(schema_id, request.path_params["id"])
        return Response(status_code=204)

    return (
        _dispatch(endpoint, {"GET": list_objects, "POST": create}),
        _dispatch(endpoint, {"GET": read, "PUT": replace, "PATCH": update, "DELETE": delete}),
    )


class EndpointRoutes(BaseRoute):
    """Every endpoint's `<route>` and `<route>/{id}` as one route matched by dictionary look-up.
    Starlette tries its routes one after another; with tens of endpoints that took longer than
    reading an object does."""

    def __init__(self, endpoints: Iterable[Endpoint], base_path: str, max_body_bytes: int) -> None:
        self.collections: dict[str, ASGIApp] = {}
        self.items: dict[str, ASGIApp] = {}
        for endpoint in endpoints:
            collection, item = endpoint_handlers(endpoint, base_path, max_body_bytes)
            route = f"{base_path}{endpoint.route}"
            self.collections.setdefault(route, request_response(collection))
            self.items.setdefault(route, request_response(item))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        app = self.collections.get(path)
        if app is not None:
            return Match.FULL, {"endpoint": app, "path_params": scope.get("path_params", {})}
        route, _, object_id = path.rpartition("/")
        app = self.items.get(route)
        if app is not None and object_id:
            path_params = {**scope.get("path_params", {}), "id": object_id}
            return Match.FULL, {"endpoint": app, "path_params": path_params}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["endpoint"](scope, receive, send)


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
