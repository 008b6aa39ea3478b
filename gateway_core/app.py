"""Wiring: settings -> plugins, schemas, endpoints, store, service -> a Starlette application."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway_core import __version__
from gateway_core.api_version import ApiVersionHeader, with_version
from gateway_core.config import Settings
from gateway_core.docs_page import docs_routes
from gateway_core.http import EXCEPTION_HANDLERS, JSON, EndpointRoutes, handle_unexpected
from gateway_core.manifest import Endpoint, Manifest, build_endpoints, read_manifest
from gateway_core.openapi import ApiInfo, as_yaml, openapi_document
from gateway_core.plugins import Plugin, discover, select
from gateway_core.relations import RelationModel, classify
from gateway_core.schemas.paths import schema_paths
from gateway_core.schemas.registry import SchemaSet, load_schemas
from gateway_core.service import ObjectService
from gateway_core.storage import Store, open_store


@dataclass(frozen=True)
class Gateway:
    """Everything loaded at start-up, before any request or store."""

    plugins: tuple[Plugin, ...]
    schemas: SchemaSet
    manifests: tuple[Manifest, ...]
    endpoints: tuple[Endpoint, ...]

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
    sources = [folder for plugin in chosen for folder in plugin.schema_dirs]
    sources += [Path(folder) for folder in settings.schemas]
    schemas = load_schemas(sources)
    manifests = tuple(
        read_manifest(plugin.manifest, plugin.name)
        for plugin in chosen
        if plugin.manifest is not None
    )
    endpoints = tuple(build_endpoints(schemas, manifests))
    return Gateway(tuple(chosen), schemas, manifests, endpoints)


def api_index(gateway: Gateway, base_path: str) -> dict[str, Any]:
    return {
        "objecttypes": [
            {
                "$id": t.id,
                "title": t.title,
                "version": t.version,
                "endpoints": [f"{base_path}{e.route}" for e in gateway.endpoints_for(t.id)],
            }
            for t in sorted(gateway.schemas.types.values(), key=lambda t: t.id)
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
    )
    return openapi_document(relations, gateway.endpoints, paths, info)


def build_service(settings: Settings, gateway: Gateway, store: Store) -> ObjectService:
    return ObjectService(
        gateway.schemas,
        gateway.endpoints,
        store,
        base_path=settings.base_path.rstrip("/"),
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
    )


def create_app(
    settings: Settings, gateway: Gateway | None = None, store: Store | None = None
) -> Starlette:
    """The ASGI application. The store (opened from settings unless given) is closed on shutdown."""
    gateway = gateway or load_gateway(settings)
    indexes: dict[str, list[str]] = {}
    for schema_id, paths in ((s, p) for m in gateway.manifests for s, p in m.indexes.items()):
        indexes.setdefault(schema_id, []).extend(paths)
    store = store or open_store(settings.database, indexes)
    base = settings.base_path.rstrip("/")
    service = build_service(settings, gateway, store)
    index = api_index(gateway, base)

    async def health(request: Request) -> Response:
        return JSON({"status": "ok"})

    async def api(request: Request) -> Response:
        return JSON(index)

    rendered: dict[str, Response] = {}  # built on first request: start-up stays fast

    def openapi(media_type: str) -> Response:
        if not rendered:
            document = api_description(settings, gateway, service.relations)
            rendered["json"] = JSON(document)
            rendered["yaml"] = Response(as_yaml(document), media_type="application/yaml")
        return rendered[media_type]

    async def openapi_json(request: Request) -> Response:
        return openapi("json")

    async def openapi_yaml(request: Request) -> Response:
        return openapi("yaml")

    routes: list[BaseRoute] = [
        Route("/health", health),
        Route(base or "/", api),
        Route(f"{base}/openapi.json", openapi_json),
        Route(f"{base}/openapi.yaml", openapi_yaml),
        *docs_routes(base, gateway.title),
        EndpointRoutes(gateway.endpoints, base, settings.max_body_bytes),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opening = getattr(store, "open", None)  # a server-backed store connects at start-up
        if inspect.iscoroutinefunction(opening):
            await opening()
        try:
            yield
        finally:
            await store.close()

    version = gateway.api_version
    app = Starlette(
        routes=routes,
        exception_handlers={
            **EXCEPTION_HANDLERS,
            Exception: with_version(handle_unexpected, version),
        },
        middleware=[Middleware(ApiVersionHeader, version=version)],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.gateway = gateway
    return app


def app_from_environment() -> Starlette:
    """The application built from the GATEWAY_* environment (and GATEWAY_CONFIG or ./gateway.yaml):
    the factory that `gateway serve --workers N` hands uvicorn, called in every worker process."""
    from gateway_core.config import load_settings

    return create_app(load_settings())
