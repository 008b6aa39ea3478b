"""The OpenAPI 3.1 document of the running gateway, generated from the same endpoint model, storage
schemas, relation model and path table that the routes, the validator and the query parser use.

The server URL is the base path plus the route prefix all endpoints share (`/api/kic/v1`, with
the major version, for the customer-interaction plugin); paths are relative to it. The gateway's
own routes (`/health`, the `/api` index, this document, the API page, `/api/admin/outbox`) are
outside that URL and are described in docs/api.md, not here: a generated client has one base URL.

With `auth` configured the document has two security schemes, `apiKey` (`Authorization: Token
<key>`) and `jwt` (`Authorization: Bearer <jwt>`, HS256), and every operation requires either of
them with its scope (`schemas.<$id>.<METHOD>`, as the role names OpenAPI 3.1 allows for such
schemes), or nothing where the `anonymous` scopes grant the operation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway_core.context import Principal, scope_for
from gateway_core.manifest import Endpoint
from gateway_core.openapi.components import AUDIT_ENTRY, VARIANTS, SchemaComponents, url_pattern
from gateway_core.openapi.facades import FacadeDoc, facade_components, query_mapped
from gateway_core.openapi.names import COMPONENT_SCHEMAS, component_names
from gateway_core.openapi.operations import EndpointView, endpoint_path_items
from gateway_core.openapi.parameters import (
    filter_parameters,
    order_parameter,
    paging_parameters,
    projection_parameters,
    reserved,
    search_parameter,
)
from gateway_core.openapi.responses import shared_components
from gateway_core.relations import RelationModel
from gateway_core.schemas.paths import PathInfo

SECURITY_SCHEMES = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token <key>`: an API key of a client configured in gateway.yaml",
    },
    "jwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an HS256 JWT signed with a client's secret (`client_id` or `iss` names "
        "the client)",
    },
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

OPENAPI_VERSION = "3.1.0"


@dataclass(frozen=True)
class ApiInfo:
    title: str
    version: str  # the API's full semantic version (the API-Version header)
    base_path: str
    default_limit: int
    max_limit: int
    max_body_bytes: int
    contact: Mapping[str, str] = field(default_factory=dict)  # name, email, url
    description: str = ""
    # what a caller without credentials may do; None: no `auth` configured, everything is open
    anonymous: Principal | None = None
    facades: Mapping[str, FacadeDoc] = field(default_factory=dict)  # by endpoint route


def server_path(base_path: str, endpoints: Iterable[Endpoint]) -> str:
    """The base path plus the longest route prefix (whole segments) every collection sits under."""
    parents = [endpoint.route.strip("/").split("/")[:-1] for endpoint in endpoints]
    shared: list[str] = []
    for segments in zip(*parents, strict=False):  # as far as the shortest one goes
        if len(set(segments)) != 1:
            break
        shared.append(segments[0])
    return base_path + "".join(f"/{segment}" for segment in shared)


class _Builder:
    def __init__(
        self,
        relations: RelationModel,
        endpoints: list[Endpoint],
        paths: Mapping[str, Mapping[str, PathInfo]],
        info: ApiInfo,
    ) -> None:
        self.relations = relations
        self.types = relations.schemas.types
        self.endpoints = endpoints
        self.paths = paths
        self.info = info
        self.server = server_path(info.base_path, endpoints)
        shapes = {s.id: s for doc in info.facades.values() for s in (doc.shape, doc.input_shape)}
        self.names = component_names(
            [*self.types.values(), *shapes.values()],
            VARIANTS,
            ("SelfMetadata", "Problem", "InvalidParam", AUDIT_ENTRY),
        )
        self.shapes = shapes
        self.components = SchemaComponents(
            relations, self.names, {e.schema_id for e in endpoints}, self._url_pattern, paths
        )

    def _url_pattern(self, schema_id: str) -> str:
        return url_pattern(
            [f"{self.info.base_path}{e.route}" for e in self.endpoints if e.schema_id == schema_id]
        )

    def _chains(self, schema_id: str, depth: int = 2) -> list[str]:
        """The relation chains of an objecttype, `relation` and `relation.relation`."""
        chains: list[str] = []
        for relation in self.relations.of(schema_id):
            chains.append(relation.path)
            if depth > 1:
                chains += [f"{relation.path}.{c}" for c in self._chains(relation.target, depth - 1)]
        return chains

    def _security(self, schema_id: str) -> dict[str, list[dict[str, list[str]]]] | None:
        anonymous = self.info.anonymous
        if anonymous is None:
            return None
        requirements: dict[str, list[dict[str, list[str]]]] = {}
        for method in _METHODS:
            scope = [scope_for(schema_id, method)]
            needed: list[dict[str, list[str]]] = [{"apiKey": scope}, {"jwt": scope}]
            requirements[method] = [*needed, {}] if anonymous.may(schema_id, method) else needed
        return requirements

    def view(self, endpoint: Endpoint) -> EndpointView:
        schema_id = endpoint.schema_id
        paths = self.paths.get(schema_id, {})
        route = f"{self.info.base_path}{endpoint.route}".removeprefix(self.server)
        object_type = self.types[schema_id]
        paging = paging_parameters(paths, self.info.default_limit, self.info.max_limit)
        projection = projection_parameters(paths, self._chains(schema_id))
        view = EndpointView(
            schema_id=schema_id,
            component=self.names[schema_id],
            title=object_type.title,
            route=route or "/",
            methods=endpoint.methods,
            list_parameters=[
                *paging,
                order_parameter(paths),
                search_parameter(paths),
                *projection,
                *filter_parameters(paths),
            ],
            item_parameters=projection,
            trail_parameters=paging,
            security=self._security(schema_id),
            audited=object_type.audited,
            option_names={n: reserved(n, paths) for n in ("version", "format", "delimiter")},
        )
        facade = self.info.facades.get(endpoint.route)
        if facade is None:
            return view
        return dataclasses.replace(
            view,
            component=self.names[facade.shape.id],
            input_component=self.names[facade.input_shape.id],
            title=facade.shape.title,
            list_parameters=[*paging, *query_mapped(facade)],
            item_parameters=[],
            facade=True,
        )

    def tags(self) -> list[dict[str, str]]:
        tags: dict[str, str] = {}
        for endpoint in self.endpoints:
            facade = self.info.facades.get(endpoint.route)
            object_type = facade.shape if facade is not None else self.types[endpoint.schema_id]
            description = object_type.schema.get("description")
            tags.setdefault(
                object_type.title,
                description if isinstance(description, str) else object_type.title,
            )
        return [{"name": name, "description": text} for name, text in tags.items()]

    def info_object(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "title": self.info.title,
            "version": self.info.version,
            "description": _description(self.info),
        }
        if self.info.contact:
            info["contact"] = dict(self.info.contact)
        return info

    def document(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for endpoint in self.endpoints:
            paths.update(endpoint_path_items(self.view(endpoint)))
        schemas = {**self.components.all(), **facade_components(self.shapes, self.names)}
        components = {"schemas": schemas, **shared_components(self.info.version)}
        components["schemas"] = _used_schemas(components["schemas"], [paths, components])
        if self.info.anonymous is not None:
            components["securitySchemes"] = SECURITY_SCHEMES
        return {
            "openapi": OPENAPI_VERSION,
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": self.info_object(),
            "servers": [{"url": self.server or "/", "description": "this gateway"}],
            "tags": self.tags(),
            "paths": paths,
            "components": components,
        }


def _references(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str) and target.startswith(COMPONENT_SCHEMAS):
            yield target.removeprefix(COMPONENT_SCHEMAS).split("/")[0]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _used_schemas(schemas: dict[str, Any], roots: list[Any]) -> dict[str, Any]:
    """The schema components reachable from the paths and the other components (the variants of
    value objects that no request uses are left out)."""
    others = [{k: v for k, v in root.items() if k != "schemas"} for root in roots]
    pending = [name for root in others for name in _references(root)]
    used: set[str] = set()
    while pending:
        name = pending.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        pending.extend(_references(schemas[name]))
    return {name: schema for name, schema in schemas.items() if name in used}


def _description(info: ApiInfo) -> str:
    intro = f"{info.description}\n\n" if info.description else ""
    return (
        f"{intro}Generated from the loaded schema files and plugin manifests. Every answer "
        "carries `API-Version` (the API's full version); every error is RFC 9457 "
        "problem+json. A method an endpoint does not offer answers 405 with an `Allow` header; "
        f"request bodies over {info.max_body_bytes} bytes answer 413. Filters, ordering and "
        "projection follow the query language of docs/query-language.md."
    )


def openapi_document(
    relations: RelationModel,
    endpoints: Iterable[Endpoint],
    paths: Mapping[str, Mapping[str, PathInfo]],
    info: ApiInfo,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document. `relations.schemas` are the storage schemas; `paths` gives every
    served objecttype's dotted paths (as the query parser sees them)."""
    return _Builder(relations, list(endpoints), paths, info).document()


class _PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors for objects the document shares between operations."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)
