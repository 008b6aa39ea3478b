"""HTTP: Starlette routes built from the endpoint model, and the one error -> problem+json mapping."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson
from starlette.background import BackgroundTask
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, NoMatchFound, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_core.audit import present_entry
from gateway_core.context import RequestContext, scope_for
from gateway_core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidParam,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    UnsupportedMediaType,
)
from gateway_core.exports import columns, csv_chunks, delimiter
from gateway_core.facades import Facade
from gateway_core.linking import merge_patch
from gateway_core.manifest import Endpoint
from gateway_core.mapping import Mappings
from gateway_core.preconditions import etag, if_match, not_modified
from gateway_core.query import ListQuery, parse_query_string, split_key
from gateway_core.schemas.registry import ObjectType
from gateway_core.security import Authenticator, credentials_needed
from gateway_core.service import ObjectService, Precondition, list_envelope
from gateway_core.storage import Page, StoredObject

log = logging.getLogger("gateway")

_URI_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"  # kept by `quote`; the rest is percent-encoded
_PAGING_PARAMETERS = {"_page", "page", "_start", "start", "_offset", "offset"}
# a query string `quote` leaves as it is, without a (possibly percent-encoded) paging parameter
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.\-~!#$&'()*+,/:;=?@\[\]]*")
_PAGING_WORDS = ("page", "start", "offset")


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


def header(request: Request, name: bytes) -> str | None:
    """A request header by its lower-case name, read from the raw headers (no Headers object)."""
    return next((v.decode("latin-1") for k, v in request.scope["headers"] if k == name), None)


def request_context(request: Request) -> RequestContext:
    """Who is asking (authenticated once per request; Unauthorized for bad credentials)."""
    context: RequestContext | None = request.scope.get("gateway.context")
    if context is None:
        authenticator: Authenticator = request.app.state.authenticator
        authorization = header(request, b"authorization") if authenticator.enabled else None
        principal = authenticator.authenticate(authorization)
        context = RequestContext(principal, method=request.method, path=request.scope["path"])
        request.scope["gateway.context"] = context
    return context


def authorize(context: RequestContext, schema_id: str, method: str, title: str) -> None:
    """401 for a caller without credentials, 403 for one without the scope."""
    if context.principal.may(schema_id, method):
        return
    scope = scope_for(schema_id, method)
    if context.principal.anonymous:
        raise credentials_needed(
            f"{method} on {title} objects needs credentials with the scope {scope} "
            "(Authorization: Token <key> or Bearer <jwt>)."
        )
    raise Forbidden(
        f"Client {context.principal.client_id!r} lacks the scope {scope} needed to {method} "
        f"{title} objects.",
        scope,
    )


def paging_links(request: Request, envelope: dict[str, Any]) -> str:
    """RFC 8288 `Link` header with first/prev/next/last pages (page-based, keeping other parameters)."""
    page, pages = envelope["page"], envelope["pages"]
    raw = request.scope["query_string"].decode("latin-1")
    if _PLAIN_QUERY.fullmatch(raw) and not any(word in raw for word in _PAGING_WORDS):
        kept = "&".join(part for part in raw.split("&") if part)
    else:
        kept = "&".join(
            # as sent, but never a `>` that would end the <URL>; raw bytes back to themselves
            quote(part, safe=_URI_CHARACTERS, encoding="latin-1")
            for part in raw.split("&")
            if part and unquote_plus(split_key(part)[0]) not in _PAGING_PARAMETERS
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


def list_headers(request: Request, envelope: dict[str, Any], page: Page) -> dict[str, str]:
    return {"X-Total-Count": str(page.total), "Link": paging_links(request, envelope)}


ContextHandler = Callable[[Request, RequestContext], Awaitable[Response]]


def _dispatch(
    endpoint: Endpoint,
    title: str,
    handlers: dict[str, ContextHandler],
    facade: Facade | None = None,
) -> Handler:
    allowed = endpoint.allowed(handlers)

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        if method not in allowed:
            raise MethodNotAllowed(request.method, allowed)
        context = request_context(request)
        authorize(context, endpoint.schema_id, method, title)
        try:
            response = await handlers[method](request, context)
        except ProblemError as error:
            raise facade.rename(error) if facade is not None else error from None
        if context.deferred:  # asynchronous actions: after the answer is sent
            response.background = BackgroundTask(context.run_deferred)
        return response

    return dispatch


def query_params(request: Request) -> list[tuple[str, str]]:
    # what Starlette's QueryParams does (without its multi-dict), but `n[>=]=5` keeps its `=`
    return parse_query_string(request.scope["query_string"].decode("latin-1"))


class _ChangedMeanwhile(Exception):
    """Another write changed the object between a facade PATCH's read and its write."""


RESPONSE_OPTIONS = ("version", "format", "delimiter")  # read here, not by the query language


class ResponseOptions:
    """`_version`, `_format` and `_delimiter`, also without the underscore (as the OpenAPI
    document names them, NL API Design Rules) where the objecttype has no property of that name."""

    def __init__(self, paths: Iterable[str]) -> None:
        taken = set(paths)
        self.names = {f"_{name}": f"_{name}" for name in RESPONSE_OPTIONS}
        self.names.update({name: f"_{name}" for name in RESPONSE_OPTIONS if name not in taken})

    def split(self, params: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The query language's parameters, and the options by their underscored name."""
        kept = [(key, value) for key, value in params if key not in self.names]
        return kept, {self.names[key]: value for key, value in params if key in self.names}


def wants_csv(request: Request, options: dict[str, str]) -> bool:
    """`?_format=csv`, or an Accept header that prefers text/csv to JSON."""
    chosen = options.get("_format")
    if chosen is not None:
        if chosen not in ("csv", "json"):
            raise BadRequest(
                "Query parameter '_format' must be csv or json.",
                invalid_params=[InvalidParam("_format", "enum", "must be csv or json")],
            )
        return chosen == "csv"
    accept = header(request, b"accept") or ""
    if "csv" not in accept.lower():
        return False
    ranked: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = next((p[2:] for p in parameters if p.startswith("q=")), "1")
        try:
            ranked[media.lower()] = float(weight)
        except ValueError:
            ranked[media.lower()] = 0.0
    csv_weight = ranked.get("text/csv", 0.0)
    json_weight = max(ranked.get("application/json", 0.0), ranked.get("*/*", 0.0) - 0.001)
    return csv_weight > 0 and csv_weight > json_weight


def _version_parameter(options: dict[str, str]) -> int | None:
    raw = options.get("_version")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 2**31 - 1:
        raise BadRequest(
            "Query parameter '_version' must be a whole number of at least 1.",
            invalid_params=[InvalidParam("_version", "type", "must be a version number")],
        )
    return int(raw)


def tagged(document: Any, version: int, status: int = 200, **headers: str) -> Response:
    response = JSON(document, status_code=status, headers=headers)
    response.headers["ETag"] = etag(version, bytes(response.body))
    return response


def endpoint_handlers(
    endpoint: Endpoint,
    title: str,
    base_path: str,
    max_body_bytes: int,
    bound: ObjectService,
    facade: Facade | None = None,
) -> tuple[Handler, Handler, Handler]:
    """The collection handler (list, create), the item handler (read, replace, update, delete)
    and the item's audit trail handler, on the service they were built with (a schema reload
    builds new ones, so a request never mixes two schema sets)."""
    schema_id = endpoint.schema_id
    response_options = ResponseOptions(bound.paths(schema_id))

    def service(request: Request) -> ObjectService:
        return bound

    async def answer(
        gateway: ObjectService,
        context: RequestContext,
        record: StoredObject,
        query: ListQuery | None = None,
        params: list[tuple[str, str]] | None = None,
    ) -> Any:
        document = await gateway.present(schema_id, record, endpoint, context, query)
        document = await gateway.after_request(
            endpoint, context, document, [document], query, params or []
        )
        return facade.out(document) if facade is not None else document

    async def respond(
        gateway: ObjectService,
        context: RequestContext,
        record: StoredObject,
        status: int = 200,
        query: ListQuery | None = None,
        params: list[tuple[str, str]] | None = None,
        **headers: str,
    ) -> Response:
        """The object's answer with its ETag; a plain one is encoded once and cached."""
        if facade is None and gateway.plain_answers(endpoint, query):
            encoded = await gateway.encoded(schema_id, record, endpoint, context)
            headers["ETag"] = encoded.etag
            return Response(encoded.body, status, headers, JSON.media_type)
        document = await answer(gateway, context, record, query, params)
        return tagged(document, record.version, status, **headers)

    def body_in(body: Any) -> Any:
        return facade.body_in(body) if facade is not None else body

    async def list_objects(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        params, options = response_options.split(query_params(request))
        separator = delimiter(options.get("_delimiter"))  # refused when wrong, CSV or not
        if wants_csv(request, options):
            if facade is not None:
                raise NotAcceptable(
                    "This endpoint answers JSON only; CSV exports are offered by the endpoints "
                    "of the objecttype itself."
                )
            return await export(request, context, params, separator)
        if facade is not None:
            params = facade.query_in(params)
        page, query = await gateway.list(schema_id, params, context, endpoint)
        if facade is None and gateway.plain_answers(endpoint, query):
            encoded = [
                orjson.Fragment((await gateway.encoded(schema_id, record, endpoint, context)).body)
                for record in page.items
            ]
            envelope = list_envelope(encoded, page, query)
            return JSON(envelope, headers=list_headers(request, envelope, page))
        results = [
            await gateway.present(schema_id, record, endpoint, context, query)
            for record in page.items
        ]
        envelope = list_envelope(results, page, query)
        headers = list_headers(request, envelope, page)
        body = await gateway.after_request(endpoint, context, envelope, results, query, params)
        if facade is not None and isinstance(body, dict):
            body = {**body, "results": [facade.out(result) for result in body["results"]]}
        return JSON(body, headers=headers)

    async def export(
        request: Request,
        context: RequestContext,
        params: list[tuple[str, str]],
        separator: str,
    ) -> Response:
        gateway = service(request)
        query = await gateway.list_query(schema_id, params, context, endpoint, whole=True)
        header = columns(gateway.paths(schema_id), query.fields)
        chunks = csv_chunks(header, gateway.stream(schema_id, query, context), separator)
        filename = endpoint.route.rsplit("/", 1)[-1] or "export"
        return StreamingResponse(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )

    async def create(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        body = body_in(await read_json_body(request, max_body_bytes))
        record = await gateway.create(schema_id, body, context)
        location = f"{base_path}{endpoint.route}/{record.id}"
        return await respond(gateway, context, record, 201, Location=location)

    async def read(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        params, options = response_options.split(query_params(request))
        query = gateway.item_options(schema_id, params, context, endpoint)
        version = _version_parameter(options)
        object_id = request.path_params["id"]
        if version is None:
            record = await gateway.read(schema_id, object_id, context)
        else:
            record = await gateway.version(schema_id, object_id, version, context)
        if version is None:
            response = await respond(gateway, context, record, 200, query, params)
        else:  # an earlier version: not for the cache of current answers
            response = tagged(await answer(gateway, context, record, query, params), version)
        if not_modified(header(request, b"if-none-match"), response.headers["ETag"]):
            return Response(status_code=304, headers={"ETag": response.headers["ETag"]})
        return response

    async def replace(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        body = body_in(await read_json_body(request, max_body_bytes))
        check = if_match(header(request, b"if-match"))
        record = await gateway.replace(schema_id, request.path_params["id"], body, context, check)
        return await respond(gateway, context, record)

    async def update(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        body = await read_json_body(request, max_body_bytes)
        check = if_match(header(request, b"if-match"))
        if facade is None:
            record = await gateway.update(
                schema_id, request.path_params["id"], body, context, check
            )
        else:
            record = await patch_through_facade(
                gateway, context, request.path_params["id"], body, check
            )
        return await respond(gateway, context, record)

    async def patch_through_facade(
        gateway: ObjectService,
        context: RequestContext,
        object_id: str,
        patch: Any,
        check: Precondition | None,
    ) -> StoredObject:
        """The patch applied to the facade's shape of the object (see facades.py), written only
        if no other write got in between reading and writing (else read again, up to 3 times)."""
        assert facade is not None
        if not isinstance(patch, dict):
            raise BadRequest("The body must be a JSON object (a merge patch).")
        facade.check_patch(patch)
        for _ in range(3):
            current = await gateway.read(schema_id, object_id, context)
            if check is not None:
                check(current)
            shown = await answer(gateway, context, current)
            mapped = facade.body_in(merge_patch(shown, patch), checked=True)
            data = {k: v for k, v in current.data.items() if k not in facade.written}
            data.update({k: v for k, v in mapped.items() if k not in ("id", "_self", "embedded")})

            def unchanged(now: StoredObject, seen: int = current.version) -> None:
                if now.version != seen:
                    raise _ChangedMeanwhile

            try:
                return await gateway.replace(schema_id, object_id, data, context, unchanged)
            except _ChangedMeanwhile:
                continue
        raise Conflict("The object kept changing while the patch was applied; try again.")

    async def delete(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        check = if_match(header(request, b"if-match"))
        await gateway.delete(schema_id, request.path_params["id"], context, check)
        await gateway.after_request(endpoint, context, None, [], None, query_params(request))
        return Response(status_code=204)

    async def audit_trail(request: Request, context: RequestContext) -> Response:
        gateway = service(request)
        page, query = await gateway.audit_trail(
            schema_id, request.path_params["id"], query_params(request)
        )
        envelope = list_envelope([present_entry(entry) for entry in page.items], page, query)
        return JSON(envelope, headers=list_headers(request, envelope, page))

    return (
        _dispatch(endpoint, title, {"GET": list_objects, "POST": create}, facade),
        _dispatch(
            endpoint,
            title,
            {"GET": read, "PUT": replace, "PATCH": update, "DELETE": delete},
            facade,
        ),
        _dispatch(endpoint, title, {"GET": audit_trail}),
    )


AUDIT_TRAIL = "audittrail"


class EndpointRoutes(BaseRoute):
    """Every endpoint's `<route>`, `<route>/{id}` and `<route>/{id}/audittrail` as one route
    matched by dictionary look-up. Starlette tries its routes one after another; with tens of
    endpoints that took longer than reading an object does."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        titles: dict[str, str],
        base_path: str,
        max_body_bytes: int,
        service: ObjectService,
        mappings: Mappings | None = None,
        shapes: Mapping[str, ObjectType] | None = None,
    ) -> None:
        self.collections: dict[str, ASGIApp] = {}
        self.items: dict[str, ASGIApp] = {}
        self.trails: dict[str, ASGIApp] = {}
        for endpoint in endpoints:
            facade = (
                Facade(
                    mappings, endpoint.mapping, (shapes or {}).get(endpoint.mapping.in_schema or "")
                )
                if endpoint.mapping is not None and mappings is not None
                else None
            )
            collection, item, trail = endpoint_handlers(
                endpoint, titles[endpoint.schema_id], base_path, max_body_bytes, service, facade
            )
            route = f"{base_path}{endpoint.route}"
            self.collections.setdefault(route, request_response(collection))
            self.items.setdefault(route, request_response(item))
            if facade is None:  # entries hold the objecttype's shape, not the facade's
                self.trails.setdefault(route, request_response(trail))

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
        if app is None and object_id == AUDIT_TRAIL:
            route, _, object_id = route.rpartition("/")
            app = self.trails.get(route)
        if app is not None and object_id:
            path_params = {**scope.get("path_params", {}), "id": object_id}
            return Match.FULL, {"endpoint": app, "path_params": path_params}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["endpoint"](scope, receive, send)


class CurrentRoutes(BaseRoute):
    """The endpoint routes of the schema set in force: `current` is replaced whole when the
    schema folders are reloaded (a request matched before the swap finishes on the old set)."""

    def __init__(self, current: EndpointRoutes, reserved: frozenset[str] = frozenset()) -> None:
        self.current = current
        self.reserved = reserved  # the gateway's own paths, never an endpoint's

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("path") in self.reserved:
            return Match.NONE, {}
        return self.current.matches(scope)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["endpoint"](scope, receive, send)


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
