"""HTTP: Starlette routes built from the endpoint model, and the one error -> problem+json mapping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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

_PAGING_PARAMETERS = {"_page", "page", "_start", "start", "_offset", "offset"}
_ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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
    kept = urlencode(
        [(k, v) for k, v in request.query_params.multi_items() if k not in _PAGING_PARAMETERS]
    )
    prefix = f"{request.url.path}?{kept}&_page=" if kept else f"{request.url.path}?_page="

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


def endpoint_routes(endpoint: Endpoint, base_path: str, max_body_bytes: int) -> list[Route]:
    schema_id = endpoint.schema_id

    def service(request: Request) -> ObjectService:
        value: ObjectService = request.app.state.service
        return value

    def params(request: Request) -> list[tuple[str, str]]:
        return list(request.query_params.multi_items())

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

    route = f"{base_path}{endpoint.route}"
    return [
        Route(route, _dispatch(endpoint, {"GET": list_objects, "POST": create}), methods=_ALL),
        Route(
            route + "/{id}",
            _dispatch(endpoint, {"GET": read, "PUT": replace, "PATCH": update, "DELETE": delete}),
            methods=_ALL,
        ),
    ]


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
