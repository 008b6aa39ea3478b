"""Wiring: settings -> plugins, schemas, endpoints, store, service -> a Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway_core import __version__
from gateway_core.actions import (
    ActionServices,
    ActionSpec,
    HandlerClass,
    apply_override,
    extend_claims,
    install_actions,
    read_actions,
)
from gateway_core.api_version import ApiVersionHeader, with_version
from gateway_core.audit import AUDIT, AuditTrail
from gateway_core.config import Settings
from gateway_core.context import Principal, admin_scope
from gateway_core.docs_page import docs_routes
from gateway_core.errors import (
    BadRequest,
    ConfigError,
    Forbidden,
    GatewayError,
    InvalidParam,
    SchemaError,
)
from gateway_core.events import (
    POST_CREATE,
    POST_DELETE,
    POST_UPDATE,
    EventDispatcher,
    FunctionListener,
)
from gateway_core.facades import query_names
from gateway_core.http import (
    EXCEPTION_HANDLERS,
    JSON,
    CurrentRoutes,
    EndpointRoutes,
    handle_unexpected,
    request_context,
)
from gateway_core.manifest import Endpoint, Manifest, build_endpoints, read_manifest
from gateway_core.mapping import Mappings, load_mappings
from gateway_core.openapi import ApiInfo, FacadeDoc, as_yaml, openapi_document
from gateway_core.plugins import Plugin, discover, select
from gateway_core.relations import RelationModel, classify
from gateway_core.reload import watch
from gateway_core.schemas.paths import schema_paths
from gateway_core.schemas.registry import ObjectType, SchemaSet, load_schemas
from gateway_core.sections import SourceConfig
from gateway_core.security import Authenticator, credentials_needed
from gateway_core.service import ObjectService, utc_now
from gateway_core.sources import OutboundHttp, Sources, read_source_files
from gateway_core.storage import Store, open_store
from gateway_core.webhooks import OUTBOX, OutboxWriter, WebhookDelivery, outbox_messages
from gateway_core.write_locks import WriteLocks

log = logging.getLogger("gateway")


@dataclass(frozen=True)
class Gateway:
    """Everything loaded at start-up, before any request or store."""

    plugins: tuple[Plugin, ...]
    schemas: SchemaSet
    manifests: tuple[Manifest, ...]
    endpoints: tuple[Endpoint, ...]
    actions: tuple[ActionSpec, ...] = ()
    sources: dict[str, SourceConfig] = field(default_factory=dict)  # plugins' and gateway.yaml's
    handlers: tuple[HandlerClass, ...] = ()
    mappings: Mappings = field(default_factory=Mappings)
    facades: dict[str, ObjectType] = field(default_factory=dict)  # facade shapes by `$id`

    @property
    def title(self) -> str:
        """The API's name: its plugins' titles."""
        return " + ".join(p.title for p in self.plugins) or "Schema gateway"

    @property
    def api_version(self) -> str:
        """The API's full version: its plugin manifest's, else the gateway's own."""
        versions = {m.version for m in self.manifests if m.version}
        return versions.pop() if len(versions) == 1 else __version__

    @property
    def contact(self) -> dict[str, str]:
        """The API's contact (name, email, url): the first plugin manifest's that has one."""
        return next((dict(m.contact) for m in self.manifests if m.contact), {})

    def endpoints_for(self, schema_id: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.schema_id == schema_id]


def load_gateway(settings: Settings, plugins: Sequence[Plugin] | None = None) -> Gateway:
    """Load plugins (discovered unless given), schema folders and manifests; raise SchemaError on any broken file."""
    chosen = select(discover() if plugins is None else plugins, settings.plugins)
    folders = [folder for plugin in chosen for folder in plugin.schema_dirs]
    folders += [Path(folder) for folder in settings.schemas]
    schemas = load_schemas(folders)
    manifests = tuple(
        read_manifest(plugin.manifest, plugin.name)
        for plugin in chosen
        if plugin.manifest is not None
    )
    endpoints = tuple(build_endpoints(schemas, manifests))
    actions = [
        spec for plugin in chosen for spec in read_actions(plugin.folder("Action") or Path("-"))
    ]
    unknown = sorted(set(settings.actions) - {spec.id for spec in actions})
    if unknown:
        raise ConfigError(f"actions: no loaded action has the $id {', '.join(unknown)}")
    actions = [apply_override(spec, settings.actions.get(spec.id, {})) for spec in actions]
    sources: dict[str, SourceConfig] = {}
    for plugin in chosen:
        sources.update(read_source_files(plugin.folder("Source") or Path("-")))
    sources.update(settings.sources)
    handlers = tuple(handler for plugin in chosen for handler in plugin.action_handlers)
    mappings = load_mappings(
        [folder for plugin in chosen if (folder := plugin.folder("Mapping")) is not None],
        {"base_path": settings.base_path.rstrip("/")},
    )
    facade_folders = [
        folder for plugin in chosen if (folder := plugin.folder("Facade")) is not None
    ]
    facades = load_schemas(facade_folders).types if facade_folders else {}
    for manifest in manifests:
        for endpoint_id, config in manifest.mappings.items():
            for shape in (config.in_schema, config.out_schema):
                if shape is not None and shape not in facades:
                    raise SchemaError(
                        manifest.source,
                        "/applications",
                        f"endpoint {endpoint_id!r} names the facade schema {shape!r}, which no "
                        "plugin's Facade/ folder holds",
                    )
            for reference in config.references():
                if reference not in mappings.by_id:
                    mappings.warnings.append(
                        (
                            manifest.source,
                            "/applications",
                            f"endpoint {endpoint_id!r} uses the unknown mapping {reference!r}",
                        )
                    )
    return Gateway(
        tuple(chosen),
        schemas,
        manifests,
        endpoints,
        tuple(actions),
        sources,
        handlers,
        mappings,
        facades,
    )


def api_index(gateway: Gateway, base_path: str, principal: Principal) -> dict[str, Any]:
    """The objecttypes the principal may read, with their endpoints, and the plugins."""
    return {
        "objecttypes": [
            {
                "$id": t.id,
                "title": t.title,
                "version": t.version,
                "endpoints": [f"{base_path}{e.route}" for e in gateway.endpoints_for(t.id)],
            }
            for t in sorted(gateway.schemas.types.values(), key=lambda t: t.id)
            if principal.may(t.id, "GET")
        ],
        "plugins": [{"name": p.name, "title": p.title} for p in gateway.plugins],
    }


def api_description(
    settings: Settings, gateway: Gateway, relations: RelationModel | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document; `relations` as the running service classified them (else
    classified here, for `gateway openapi`)."""
    served = {e.schema_id for e in gateway.endpoints}
    relations = relations or classify(gateway.schemas, served)
    storage = relations.schemas
    paths = {sid: schema_paths(storage, storage.get(sid)) for sid in served}
    info = ApiInfo(
        title=gateway.title,
        version=gateway.api_version,
        base_path=settings.base_path.rstrip("/"),
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
        max_body_bytes=settings.max_body_bytes,
        contact=gateway.contact,
        description=" ".join(p.description for p in gateway.plugins if p.description),
        anonymous=Authenticator(settings.auth).anonymous if settings.auth else None,
        facades=facade_docs(gateway),
    )
    return openapi_document(relations, gateway.endpoints, paths, info)


def facade_docs(gateway: Gateway) -> dict[str, FacadeDoc]:
    """The facade endpoints that name their shapes, by route, for the document."""
    docs: dict[str, FacadeDoc] = {}
    for endpoint in gateway.endpoints:
        config = endpoint.mapping
        if config is None:
            continue
        output = gateway.facades.get(config.out_schema or config.in_schema or "")
        taken = gateway.facades.get(config.in_schema or config.out_schema or "")
        if output is None or taken is None:
            continue
        docs[endpoint.route] = FacadeDoc(output, taken, query_names(gateway.mappings, config))
    return docs


def build_service(
    settings: Settings,
    gateway: Gateway,
    store: Store,
    http: OutboundHttp | None = None,
    write_locks: WriteLocks | None = None,
) -> ObjectService:
    """The service with its batch listeners (webhook outbox) and the plugins' actions listening."""
    base = settings.base_path.rstrip("/")
    titles = {sid: t.title for sid, t in gateway.schemas.types.items()}
    routes: dict[str, str] = {}
    for endpoint in gateway.endpoints:
        routes.setdefault(endpoint.schema_id, f"{base}{endpoint.route}")
    events = EventDispatcher()
    service = ObjectService(
        gateway.schemas,
        gateway.endpoints,
        store,
        base_path=base,
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
        batch_listeners=[
            AuditTrail(lambda schema_id: gateway.schemas.get(schema_id).audited, utc_now),
            OutboxWriter(settings.webhooks, routes, titles, settings.external_url),
        ],
        events=events,
        write_locks=write_locks,
        answer_cache_bytes=settings.answer_cache_mb * 2**20,
    )
    services = ActionServices(
        Sources(gateway.sources, http or OutboundHttp()), service.schemas.types, service.paths
    )
    listeners = install_actions(gateway.actions, gateway.handlers, services, events)
    service.extend_claims = {
        endpoint.route: extend_claims(listeners, endpoint.throws) for endpoint in gateway.endpoints
    }
    return service


@dataclass(frozen=True)
class Runtime:
    """One schema set in force: everything a reload replaces, together."""

    gateway: Gateway
    service: ObjectService
    routes: EndpointRoutes
    openapi: dict[str, Response] = field(default_factory=dict)  # built on first request


def build_runtime(
    settings: Settings,
    gateway: Gateway,
    store: Store,
    http: OutboundHttp,
    delivery: WebhookDelivery | None,
    write_locks: WriteLocks | None = None,
) -> Runtime:
    service = build_service(settings, gateway, store, http, write_locks)
    if delivery is not None:  # a new message is tried at once, not at the next poll

        async def wake(event: Any) -> None:
            delivery.wake()

        for name in (POST_CREATE, POST_UPDATE, POST_DELETE):
            service.events.listen(name, FunctionListener("webhook delivery", wake), -1000)
    routes = EndpointRoutes(
        gateway.endpoints,
        {sid: t.title for sid, t in gateway.schemas.types.items()},
        settings.base_path.rstrip("/"),
        settings.max_body_bytes,
        service,
        gateway.mappings,
        gateway.facades,
    )
    return Runtime(gateway, service, routes)


def create_app(
    settings: Settings, gateway: Gateway | None = None, store: Store | None = None
) -> Starlette:
    """The ASGI application. The store (opened from settings unless given) is closed on shutdown."""
    gateway = gateway or load_gateway(settings)
    indexes: dict[str, list[str]] = {AUDIT: ["object"], OUTBOX: ["status"]}
    for schema_id, paths in ((s, p) for m in gateway.manifests for s, p in m.indexes.items()):
        indexes.setdefault(schema_id, []).extend(paths)
    opened = store or open_store(
        settings.database, indexes, settings.query_timeout, settings.count_max_age
    )
    base = settings.base_path.rstrip("/")
    http = OutboundHttp()
    delivery = WebhookDelivery(opened, settings.webhooks, http) if settings.webhooks else None
    authenticator = Authenticator(settings.auth)
    first = build_runtime(settings, gateway, opened, http, delivery)
    endpoint_routes = CurrentRoutes(first.routes)

    def runtime(request: Request) -> Runtime:
        current: Runtime = request.app.state.runtime
        return current

    async def health(request: Request) -> Response:
        ready = runtime(request).service.store.ready
        return JSON({"status": "ok", "searchIndexes": "ready" if ready else "building"})

    async def api(request: Request) -> Response:
        principal = request_context(request).principal
        return JSON(api_index(runtime(request).gateway, base, principal))

    def openapi(request: Request, media_type: str) -> Response:
        current = runtime(request)
        if not current.openapi:
            document = api_description(settings, current.gateway, current.service.relations)
            current.openapi["json"] = JSON(document)
            current.openapi["yaml"] = Response(as_yaml(document), media_type="application/yaml")
        return current.openapi[media_type]

    async def openapi_json(request: Request) -> Response:
        return openapi(request, "json")

    async def openapi_yaml(request: Request) -> Response:
        return openapi(request, "yaml")

    async def outbox(request: Request) -> Response:
        principal = request_context(request).principal
        if not principal.has(admin_scope("GET")):
            if principal.anonymous:
                raise credentials_needed("The outbox needs credentials with the scope admin.GET.")
            raise Forbidden("The outbox needs the scope admin.GET.", admin_scope("GET"))
        status = request.query_params.get("status")
        if status not in (None, "pending", "failed"):
            raise BadRequest(
                "Query parameter 'status' must be pending or failed.",
                invalid_params=[InvalidParam("status", "enum", "must be pending or failed")],
            )
        messages = await outbox_messages(opened, status)
        return JSON({"results": [{"id": m.id, **m.data} for m in messages], "count": len(messages)})

    own: list[BaseRoute] = [
        Route("/health", health),
        Route(base or "/", api),
        Route(f"{base}/openapi.json", openapi_json),
        Route(f"{base}/openapi.yaml", openapi_yaml),
        Route(f"{base}/admin/outbox", outbox),
        *docs_routes(base, gateway.title),
    ]
    # the endpoints first: Starlette tries routes in order, and nearly every request is for one
    # (the gateway's own paths stay theirs: CurrentRoutes leaves them alone)
    endpoint_routes.reserved = frozenset(r.path for r in own if isinstance(r, Route))
    routes: list[BaseRoute] = [endpoint_routes, *own]

    async def reload_schemas() -> None:
        await reload_runtime(app, settings, opened, http, delivery, endpoint_routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opening = getattr(opened, "open", None)  # a server-backed store connects at start-up
        if inspect.iscoroutinefunction(opening):
            await opening()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(delivery.run())] if delivery is not None else []
        if settings.reload and settings.schemas:
            tasks.append(asyncio.create_task(watch(settings.schemas, reload_schemas, stop)))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await http.close()
            await opened.close()

    version = gateway.api_version
    app = Starlette(
        routes=routes,
        exception_handlers={
            **EXCEPTION_HANDLERS,
            Exception: with_version(handle_unexpected, version),
        },
        # outermost first: every answer, a CORS preflight included, carries API-Version
        middleware=[Middleware(ApiVersionHeader, version=version), *cors_middleware(settings)],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    install_runtime(app, first)
    return app


def install_runtime(app: Starlette, runtime: Runtime) -> None:
    app.state.runtime = runtime
    app.state.service = runtime.service  # for tools and tests that reach into the running service
    app.state.gateway = runtime.gateway


async def reload_runtime(
    app: Starlette,
    settings: Settings,
    store: Store,
    http: OutboundHttp,
    delivery: WebhookDelivery | None,
    current_routes: CurrentRoutes,
) -> None:
    """Load the schema set again; swap it in whole, or keep the old one when it does not load."""
    old: Runtime = app.state.runtime
    try:
        gateway = await asyncio.to_thread(load_gateway, settings, old.gateway.plugins)
        fresh = await asyncio.to_thread(
            build_runtime, settings, gateway, store, http, delivery, old.service.write_locks
        )
    except GatewayError as error:
        log.error("schema reload refused, the previous schemas keep serving: %s", error)
        return
    before, after = old.gateway.schemas.types, gateway.schemas.types
    for schema_id in sorted(set(after) - set(before)):
        log.warning("schema reload: added %s", schema_id)
    for schema_id in sorted(set(before) - set(after)):
        log.warning("schema reload: removed %s (its stored objects are kept)", schema_id)
    for schema_id in sorted(set(before) & set(after)):
        if before[schema_id].schema != after[schema_id].schema:
            invalid = await fresh.service.count_invalid(schema_id)
            log.warning(
                "schema reload: changed %s; %d stored object(s) do not satisfy it now (kept, "
                "not changed; they fail validation on their next write)",
                schema_id,
                invalid,
            )
    current_routes.current = fresh.routes
    install_runtime(app, fresh)


EXPOSED_HEADERS = ("Location", "X-Total-Count", "Link", "ETag", "API-Version", "WWW-Authenticate")
ACCEPTED_HEADERS = ("Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match")


def cors_middleware(settings: Settings) -> list[Middleware]:
    """CORS for the configured origins only (none configured: no CORS headers at all, so browsers
    on other origins cannot read the answers)."""
    cors = settings.cors
    if not cors.allow_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(cors.allow_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            allow_headers=list(ACCEPTED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=cors.allow_credentials,
            max_age=cors.max_age,
        )
    ]


def app_from_environment() -> Starlette:
    """The application built from the GATEWAY_* environment (and GATEWAY_CONFIG or ./gateway.yaml):
    the factory that `gateway serve --workers N` hands uvicorn, called in every worker process."""
    from gateway_core.config import load_settings

    return create_app(load_settings())
