"""Plugin manifests (compatible with Common Gateway's installation.json) and the endpoint model.

A manifest names collections (a `schemaPrefix` of `$id`s and the path `prefix` they are served
under) and endpoints (`reference` = schema `$id`, `path`, `methods`, `throws`). Schemas that no
manifest claims get derived endpoints at `/<name>` (see ObjectType.name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from gateway_core.errors import SchemaError
from gateway_core.schemas.registry import SchemaSet, read_json

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")


@dataclass(frozen=True)
class Collection:
    reference: str
    schema_prefix: str
    prefix: str


@dataclass(frozen=True)
class EndpointMapping:
    """The mappings an endpoint runs (installation.json's `applications[].configuration`): the
    request body and query in, the answer's objects out; `$id`s of mapping files. `schema` names a
    facade shape (a JSON Schema in the plugin's `Facade/` folder) for the documentation."""

    in_body: str | None = None
    in_query: str | None = None
    out_body: str | None = None
    in_schema: str | None = None
    out_schema: str | None = None

    def references(self) -> list[str]:
        return [r for r in (self.in_body, self.in_query, self.out_body) if r]


@dataclass(frozen=True)
class EndpointSpec:
    reference: str
    path: str
    methods: tuple[str, ...]
    throws: tuple[str, ...]
    pointer: str
    id: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    source: str
    collections: tuple[Collection, ...]
    endpoints: tuple[EndpointSpec, ...]
    indexes: dict[str, tuple[str, ...]]
    mappings: dict[str, EndpointMapping] = field(default_factory=dict)  # by endpoint `$id`
    version: str = ""  # the API's semantic version (`API-Version`, the OpenAPI `info.version`)
    contact: dict[str, str] = field(default_factory=dict)  # name, email, url of its maintainer

    def prefix_for(self, schema_id: str) -> str:
        for collection in self.collections:
            if schema_id.startswith(collection.schema_prefix):
                return collection.prefix
        return ""

    def claims(self, schema_id: str) -> bool:
        return any(schema_id.startswith(c.schema_prefix) for c in self.collections) or any(
            e.reference == schema_id for e in self.endpoints
        )


@dataclass(frozen=True)
class Endpoint:
    """A served collection of objects: `/<prefix>/<path>` (list, create) and `.../<id>` (item)."""

    schema_id: str
    prefix: str
    path: str
    methods: frozenset[str]
    throws: tuple[str, ...]
    source: str
    id: str | None = None
    mapping: EndpointMapping | None = None

    @cached_property
    def route(self) -> str:
        return "/" + "/".join(part for part in (self.prefix, self.path) if part)

    def allowed(self, methods: Iterable[str]) -> list[str]:
        return [m for m in ALL_METHODS if m in methods and m in self.methods]


def _text(value: Any, source: str, pointer: str) -> str:
    if not isinstance(value, str) or not value:
        raise SchemaError(source, pointer, "must be a non-empty string")
    return value


def _collection_prefix(entry: dict[str, Any], manifest_path: Path, pointer: str) -> str:
    if isinstance(entry.get("prefix"), str):
        return str(entry["prefix"]).strip("/")
    reference = entry.get("reference")
    folder = manifest_path.parent / "Collection"
    for candidate in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        document = read_json(candidate)
        if isinstance(document, dict) and document.get("$id") == reference:
            return str(document.get("prefix", "")).strip("/")
    raise SchemaError(
        str(manifest_path),
        pointer,
        f"collection {reference!r} has no `prefix` and no Collection file",
    )


def _methods(value: Any, source: str, pointer: str) -> tuple[str, ...]:
    if value in (None, []):
        return ALL_METHODS
    if not isinstance(value, list):
        raise SchemaError(source, pointer, "methods must be a list")
    methods: list[str] = []
    for index, method in enumerate(value):
        name = str(method).upper()
        if name not in ALL_METHODS:
            raise SchemaError(source, f"{pointer}/{index}", f"unknown method {method!r}")
        if name not in methods:
            methods.append(name)
    return tuple(methods)


def read_manifest(path: Path, default_name: str = "") -> Manifest:
    source = str(path)
    document = read_json(path)
    if not isinstance(document, dict):
        raise SchemaError(source, "/", "a manifest must be a JSON object")
    collections = []
    for index, entry in enumerate(document.get("collections", []) or []):
        pointer = f"/collections/{index}"
        if not isinstance(entry, dict):
            raise SchemaError(source, pointer, "must be an object")
        collections.append(
            Collection(
                reference=str(entry.get("reference", "")),
                schema_prefix=_text(entry.get("schemaPrefix"), source, f"{pointer}/schemaPrefix"),
                prefix=_collection_prefix(entry, path, pointer),
            )
        )
    endpoint_block = document.get("endpoints", {}) or {}
    specs = []
    for index, entry in enumerate(
        endpoint_block.get("schemas", []) if isinstance(endpoint_block, dict) else []
    ):
        pointer = f"/endpoints/schemas/{index}"
        if not isinstance(entry, dict):
            raise SchemaError(source, pointer, "must be an object")
        endpoint_path = _text(entry.get("path"), source, f"{pointer}/path").strip("/")
        if not _SEGMENT.match(endpoint_path):
            raise SchemaError(
                source, f"{pointer}/path", f"{endpoint_path!r} is not a valid URL path"
            )
        specs.append(
            EndpointSpec(
                reference=_text(entry.get("reference"), source, f"{pointer}/reference"),
                path=endpoint_path,
                methods=_methods(entry.get("methods"), source, f"{pointer}/methods"),
                throws=tuple(str(name) for name in entry.get("throws", []) or []),
                pointer=pointer,
                id=entry["$id"] if isinstance(entry.get("$id"), str) else None,
            )
        )
    indexes: dict[str, tuple[str, ...]] = {}
    for schema_id, paths in (document.get("indexes") or {}).items():
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise SchemaError(source, f"/indexes/{schema_id}", "must be a list of dotted paths")
        indexes[schema_id] = tuple(paths)
    name = document.get("name") if isinstance(document.get("name"), str) else default_name
    mappings = _endpoint_mappings(document.get("applications"), source)
    known = {spec.id for spec in specs if spec.id}
    for endpoint_id in mappings:
        if endpoint_id not in known:
            raise SchemaError(
                source,
                "/applications",
                f"configures endpoint {endpoint_id!r}, which no endpoint has as $id",
            )
    version = document.get("version", "")
    if version and not (isinstance(version, str) and _SEMVER.match(version)):
        raise SchemaError(source, "/version", f"{version!r} is no semantic version (1.2.3)")
    contact = document.get("contact") or {}
    if not isinstance(contact, dict) or not all(isinstance(v, str) for v in contact.values()):
        raise SchemaError(source, "/contact", "must be an object of strings (name, email, url)")
    return Manifest(
        str(name),
        source,
        tuple(collections),
        tuple(specs),
        indexes,
        mappings=mappings,
        version=version,
        contact=dict(contact),
    )


def _mapping_reference(entry: Any, source: str, pointer: str) -> tuple[str | None, str | None]:
    if entry is None:
        return None, None
    if not isinstance(entry, dict):
        raise SchemaError(source, pointer, "must be {mapping: <$id>, schema?: <$id>}")
    mapping, schema = entry.get("mapping"), entry.get("schema")
    for key, value in (("mapping", mapping), ("schema", schema)):
        if value is not None and not isinstance(value, str):
            raise SchemaError(source, f"{pointer}/{key}", "must be a $id")
    return mapping, schema


def _endpoint_mappings(applications: Any, source: str) -> dict[str, EndpointMapping]:
    """installation.json's `applications[].configuration[]`: {endpoint $id: {in, out}}."""
    found: dict[str, EndpointMapping] = {}
    for index, application in enumerate(applications or []):
        configuration = application.get("configuration") if isinstance(application, dict) else None
        for position, entry in enumerate(configuration or []):
            pointer = f"/applications/{index}/configuration/{position}"
            if not isinstance(entry, dict):
                raise SchemaError(source, pointer, "must map an endpoint $id to {in, out}")
            for endpoint_id, config in entry.items():
                where = f"{pointer}/{endpoint_id}"
                if not isinstance(config, dict) or set(config) - {"in", "out"}:
                    raise SchemaError(source, where, "must hold `in` and/or `out`")
                incoming = config.get("in") or {}
                outgoing = config.get("out") or {}
                in_body, in_schema = _mapping_reference(
                    incoming.get("body"), source, f"{where}/in/body"
                )
                in_query, _ = _mapping_reference(incoming.get("query"), source, f"{where}/in/query")
                out_body, out_schema = _mapping_reference(
                    outgoing.get("body"), source, f"{where}/out/body"
                )
                found[endpoint_id] = EndpointMapping(
                    in_body, in_query, out_body, in_schema, out_schema
                )
    return found


def build_endpoints(schemas: SchemaSet, manifests: Iterable[Manifest]) -> list[Endpoint]:
    manifests = list(manifests)
    endpoints: list[Endpoint] = []
    for manifest in manifests:
        for spec in manifest.endpoints:
            if spec.reference not in schemas.types:
                raise SchemaError(
                    manifest.source,
                    f"{spec.pointer}/reference",
                    f"no loaded schema has $id {spec.reference!r}",
                )
            endpoints.append(
                Endpoint(
                    schema_id=spec.reference,
                    prefix=manifest.prefix_for(spec.reference),
                    path=spec.path,
                    methods=frozenset(spec.methods),
                    throws=spec.throws,
                    source=manifest.source,
                    id=spec.id,
                    mapping=manifest.mappings.get(spec.id) if spec.id else None,
                )
            )
    for object_type in schemas.types.values():
        if not any(m.claims(object_type.id) for m in manifests):
            endpoints.append(
                Endpoint(
                    object_type.id,
                    "",
                    object_type.name,
                    frozenset(ALL_METHODS),
                    (),
                    object_type.source,
                )
            )
    seen: dict[str, Endpoint] = {}
    for endpoint in endpoints:
        other = seen.get(endpoint.route)
        if other is not None:
            raise SchemaError(
                endpoint.source,
                "/",
                f"route {endpoint.route} is also served for {other.schema_id} ({other.source})",
            )
        seen[endpoint.route] = endpoint
    return endpoints
