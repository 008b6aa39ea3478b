"""The OpenAPI 3.1 document of the running gateway, generated from the same endpoint model, storage
schemas, relation model and path table that the routes, the validator and the query parser use.

Per served objecttype `T` (component names from the schema titles):
- `T` is an object as the API returns it: the storage schema (relations as UUIDs) plus `id`,
  `_self` and `embedded`. It lists no `required` properties because `_fields` may leave any of
  them out; the item and list responses require `id` and `_self`, which are always there.
- `TInput` is a POST/PUT body: relations accept a nested object, a UUID or a URL, as linking.py
  does; `_self` and `embedded` are accepted and ignored, so a GET response can be sent back.
- `TPatch` is a PATCH body (RFC 7396): no property is required and `null` removes one.
Value objects (schemas without an endpoint) get the same three variants, referenced inline.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import yaml

from gateway_core.manifest import Endpoint
from gateway_core.query import MAX_OFFSET, MAX_PAGE, METADATA_PATHS, OPERATORS, arrays_of
from gateway_core.relations import RelationModel
from gateway_core.schemas.paths import RELATION_KEYWORD, PathInfo
from gateway_core.schemas.registry import ObjectType

OPENAPI_VERSION = "3.1.0"
_COMPONENTS = "#/components/schemas/"
_PROBLEM = "application/problem+json"
# Keywords of Common Gateway's dialect, kept as OpenAPI extensions.
_EXTENSIONS = ("inversedBy", "cascadeDelete", "immutable", "maxDepth", "version")
_LITERAL_KEYS = ("enum", "const", "default", "examples", "example", "required")
_COMPARISONS = (">=", ">", "<=", "<", "int_compare", "bool_compare")
_OPERATORS_BY_KIND: dict[str, tuple[str, ...]] = {
    "string": ("exact", "case_sensitive", "case_insensitive", "like", "regex", "ne", *_COMPARISONS),
    "number": ("exact", "case_sensitive", "case_insensitive", "ne", *_COMPARISONS),
    "boolean": ("exact", "case_sensitive", "case_insensitive", "ne", "int_compare", "bool_compare"),
}
_DATE_OPERATORS = ("after", "strictly_after", "before", "strictly_before")
_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_NULL_TESTS = {"type": "string", "enum": ["IS NULL", "IS NOT NULL"]}


@dataclass(frozen=True)
class ApiInfo:
    title: str
    version: str
    base_path: str
    default_limit: int
    max_limit: int
    max_body_bytes: int


def _operators(kind: str) -> tuple[str, ...]:
    if kind in ("date-time", "date"):
        return _OPERATORS_BY_KIND["string"] + _DATE_OPERATORS
    return _OPERATORS_BY_KIND[kind]


def _query_value(kind: str) -> dict[str, Any]:
    """What a query-string value of this kind must read as."""
    if kind == "number":
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind in ("date-time", "date"):
        return {"type": "string", "format": kind}
    return {"type": "string"}


def _operator_value(operator: str, kind: str) -> dict[str, Any]:
    canonical, override = OPERATORS[operator]
    if override is not None:
        return _query_value(override)
    if canonical in ("like", "regex"):
        return {"type": "string", "format": "regex"} if canonical == "regex" else {"type": "string"}
    return _query_value(kind)


def _filterable(paths: Mapping[str, PathInfo]) -> dict[str, PathInfo]:
    """The paths a filter or `_order` may name: scalar values (objects must be filtered inside)."""
    scalar = {
        path: info
        for path, info in paths.items()
        if not (info.types and info.types <= {"object", "array"})
    }
    return {**METADATA_PATHS, **scalar}


def _component_names(types: Iterable[ObjectType]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: set[str] = set()
    for object_type in sorted(types, key=lambda t: t.id):
        words = re.findall(r"[A-Za-z0-9]+", object_type.title) or ["Object"]
        base = "".join(word[:1].upper() + word[1:] for word in words)
        name, number = base, 2
        while name in taken:
            name, number = f"{base}{number}", number + 1
        taken.add(name)
        names[object_type.id] = name
    return names


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
        self.names = _component_names(self.types.values())
        self.served = {e.schema_id for e in endpoints}
        self.schemas: dict[str, Any] = {}

    # -- schemas -----------------------------------------------------------------------------

    def ref(self, schema_id: str, variant: str = "") -> dict[str, str]:
        return {"$ref": f"{_COMPONENTS}{self.names[schema_id]}{variant}"}

    def _ref_target(self, ref: str, base: str, variant: str) -> str:
        absolute = urljoin(base, ref) if ref and not ref.startswith("#") else base + ref
        document, _, fragment = absolute.partition("#")
        if document not in self.names:
            return ref
        pointer = fragment if fragment.startswith("/") else ""
        return f"{_COMPONENTS}{self.names[document]}{variant}{pointer}"

    def _url_pattern(self, schema_id: str) -> str:
        routes = "|".join(
            re.escape(f"{self.info.base_path}{e.route}")
            for e in self.endpoints
            if e.schema_id == schema_id
        )
        return f"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/]+)?(?:{routes})/{_UUID}/?$"

    def _relation_input(self, node: dict[str, Any]) -> dict[str, Any]:
        target = node[RELATION_KEYWORD]
        title = self.types[target].title
        nested_update = {
            **self.ref(target, "Patch"),
            "required": ["id"],
            "description": f"an existing {title} (by `id`), updated with the other properties",
        }
        choices = [
            {
                **self.ref(target, "Input"),
                "description": f"a new {title}, created with this object",
            },
            nested_update,
            {"type": "string", "format": "uuid", "description": f"the id of an existing {title}"},
            {
                "type": "string",
                "pattern": self._url_pattern(target),
                "description": f"the URL (or path) of an existing {title}",
            },
        ]
        described: dict[str, Any] = {k: node[k] for k in ("title", "description") if k in node}
        return {**described, "anyOf": choices, RELATION_KEYWORD: target}

    def convert(self, node: Any, base: str, variant: str) -> Any:
        """A storage-schema node as OpenAPI: `$ref`s to components of `variant`, CG keywords as
        `x-` extensions; relations as UUIDs ("" variant) or as the accepted inputs."""
        if isinstance(node, list):
            return [self.convert(child, base, variant) for child in node]
        if not isinstance(node, dict):
            return node
        if RELATION_KEYWORD in node and variant:
            relation = self._relation_input(node)
            return {"anyOf": [relation, {"type": "null"}]} if variant == "Patch" else relation
        converted: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$id", "$schema", "$comment"):
                continue
            if key == "$ref" and isinstance(value, str):
                converted[key] = self._ref_target(value, base, variant)
            elif key in _EXTENSIONS:
                converted[f"x-{key}"] = value
            elif key == "required" and variant in ("", "Patch"):
                continue  # "": `_fields` may leave anything out; Patch: nothing is required
            elif key in _LITERAL_KEYS:
                converted[key] = value
            elif key == "properties" and isinstance(value, dict):
                converted[key] = {
                    name: self._property(sub, base, variant) for name, sub in value.items()
                }
            else:
                converted[key] = self.convert(value, base, variant)
        return converted

    def _property(self, node: Any, base: str, variant: str) -> Any:
        converted = self.convert(node, base, variant)
        if variant == "Patch" and not (isinstance(node, dict) and RELATION_KEYWORD in node):
            return {"anyOf": [converted, {"type": "null"}]}
        return converted

    def add_type(self, object_type: ObjectType) -> None:
        name = self.names[object_type.id]
        served = object_type.id in self.served
        for variant in ("", "Input", "Patch"):
            schema = self.convert(copy.deepcopy(object_type.schema), object_type.id, variant)
            schema.setdefault("title", object_type.title)
            if served:
                self._add_envelope_properties(schema, object_type.id, variant)
            self.schemas[name + variant] = schema

    def _add_envelope_properties(
        self, schema: dict[str, Any], schema_id: str, variant: str
    ) -> None:
        if variant == "":
            extra: dict[str, Any] = {
                "id": {"type": "string", "format": "uuid", "readOnly": True},
                "_self": {"$ref": f"{_COMPONENTS}SelfMetadata"},
                "embedded": self._embedded(schema_id),
            }
        else:
            ignored = {
                "description": "output only: accepted and ignored, so a GET response can be sent back"
            }
            extra = {"_self": ignored, "embedded": ignored}
            if variant == "Patch":
                extra["id"] = {
                    "type": "string",
                    "format": "uuid",
                    "description": "at the top it must equal the id in the URL; in a nested "
                    "object it names the existing object to change",
                }
        if isinstance(schema.get("properties"), dict) or schema.get("type") == "object":
            schema.setdefault("properties", {}).update(extra)
        else:
            schema["allOf"] = [*schema.get("allOf", []), {"properties": extra}]

    def _embedded(self, schema_id: str) -> dict[str, Any]:
        """The shape of `embedded`: the related objects at their relations' paths (mirroring the
        value objects and arrays on the way), each as its objecttype's output."""
        tree: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
        paths = self.paths.get(schema_id, {})
        for relation in self.relations.of(schema_id):
            parts = relation.path.split(".")
            arrays = set(arrays_of(relation.path, paths))
            node = tree
            for index, part in enumerate(parts[:-1]):
                prefix = ".".join(parts[: index + 1])
                child = node["properties"].setdefault(
                    part, {"type": "object", "properties": {}, "additionalProperties": False}
                )
                if prefix in arrays:
                    holder = node["properties"][part] = (
                        child if child.get("type") == "array" else {"type": "array", "items": child}
                    )
                    child = holder["items"]
                node = child
            target = self.ref(relation.target)
            node["properties"][parts[-1]] = (
                {"type": "array", "items": target} if relation.many else target
            )
        tree["description"] = (
            "the related objects (down to the objecttype's maxDepth, cycles cut; `_extend` "
            "goes deeper); a relation's property itself holds the UUID(s)"
        )
        return tree

    # -- parameters --------------------------------------------------------------------------

    def list_parameters(self, schema_id: str) -> list[dict[str, Any]]:
        paths = self.paths.get(schema_id, {})
        filterable = _filterable(paths)
        sortable = {path: {"type": "string", "enum": ["asc", "desc"]} for path in filterable}
        parameters = [
            _query(
                "_limit",
                {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.info.max_limit,
                    "default": self.info.default_limit,
                },
                "page size (alias `limit`)",
            ),
            _query(
                "_page",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                "page number, from 1 (alias `page`)",
            ),
            _query(
                "_start",
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                "offset of the first result (alias `start`, `_offset`)",
            ),
            _query(
                "_offset",
                {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                "offset of the first result (alias `offset`)",
            ),
            {
                "name": "_order",
                "in": "query",
                "style": "deepObject",
                "explode": True,
                "description": "`_order[path]=asc|desc`, several in order of precedence; ties "
                "keep creation order (alias `order`; also `_order=path,-other`)",
                "schema": {"type": "object", "properties": sortable, "additionalProperties": False},
            },
            _query(
                "_search",
                {"type": "string"},
                "case-insensitive literal text searched for in "
                "every string value (`_search[a,b.c]=text`: only in those paths)",
            ),
            *self.item_parameters(schema_id),
        ]
        for path, info in filterable.items():
            parameters.append(self._filter_parameter(path, info))
        parameters.append(self._operator_parameter(filterable))
        return parameters

    def item_parameters(self, schema_id: str) -> list[dict[str, Any]]:
        paths = self.paths.get(schema_id, {})
        fields = sorted({"id", "_self", "embedded", *METADATA_PATHS, *paths})
        chains = self._chains(schema_id)
        extend = {
            "name": "_extend",
            "in": "query",
            "style": "form",
            "explode": False,
            "description": "comma-separated chains of relations to embed beyond maxDepth "
            "(also `_extend[]=chain`); longer chains than listed are accepted too",
            "schema": {"type": "array", "items": {"type": "string", "enum": chains}},
        }
        return [
            {
                "name": "_fields",
                "in": "query",
                "style": "form",
                "explode": False,
                "description": "comma-separated dotted paths to return (`id` and `_self` always "
                "stay; alias `fields`)",
                "schema": {"type": "array", "items": {"type": "string", "enum": fields}},
            },
            *([extend] if chains else []),
        ]

    def _chains(self, schema_id: str, depth: int = 2) -> list[str]:
        """The relation chains of an objecttype, `relation` and `relation.relation`."""
        chains: list[str] = []
        for relation in self.relations.of(schema_id):
            chains.append(relation.path)
            if depth > 1:
                chains += [f"{relation.path}.{c}" for c in self._chains(relation.target, depth - 1)]
        return chains

    @staticmethod
    def _filter_parameter(path: str, info: PathInfo) -> dict[str, Any]:
        kind = info.scalar_type
        operators = _operators(kind)
        through = " (any element of the arrays on the way matches)" if info.in_array else ""
        text = " `%` in the value: contains." if kind in ("string", "date-time", "date") else ""
        return {
            "name": path,
            "in": "query",
            "description": f"{kind}{through}: equal to the value (strings case-insensitively);"
            f"{text} `IS NULL` / `IS NOT NULL`. One of several values: `{path}[]=a&{path}[]=b`. "
            f"Operators, `{path}[operator]=value`: {', '.join(operators)}.",
            "schema": {"anyOf": [_query_value(kind), _NULL_TESTS]},
            "x-operators": list(operators),
        }

    @staticmethod
    def _operator_parameter(filterable: Mapping[str, PathInfo]) -> dict[str, Any]:
        by_value: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {}
        for path, info in filterable.items():
            kind = info.scalar_type
            for operator in _operators(kind):
                value = _operator_value(operator, kind)
                key = repr(sorted(value.items())) + kind
                entry = by_value.setdefault(key, (value, [], []))
                if path not in entry[1]:
                    entry[1].append(path)
                if operator not in entry[2]:
                    entry[2].append(operator)
        patterns: dict[str, Any] = {}
        for value, group_paths, operators in by_value.values():
            names = "|".join(re.escape(p) for p in sorted(group_paths))
            ops = "|".join(re.escape(o) for o in operators)
            patterns[f"^(?:{names})\\[(?:{ops})\\]$"] = value
        return {
            "name": "path[operator]",
            "in": "query",
            "style": "form",
            "explode": True,
            "description": "filters with an operator, `path[operator]=value` (several on one path "
            "are AND-ed), and filters across relations, `relation.path=value` with the same "
            "forms (docs/query-language.md). This parameter's own name is not sent.",
            "schema": {
                "type": "object",
                "patternProperties": patterns,
                "additionalProperties": False,
            },
        }

    # -- operations --------------------------------------------------------------------------

    def endpoint_paths(self, endpoint: Endpoint) -> dict[str, Any]:
        schema_id = endpoint.schema_id
        title = self.types[schema_id].title
        route = f"{self.info.base_path}{endpoint.route}"
        tag = [title]
        operation_id = re.sub(r"[^A-Za-z0-9]+", "_", endpoint.route).strip("_")
        item_response = {**self.ref(schema_id), "required": ["id", "_self"]}
        collection: dict[str, Any] = {}
        item: dict[str, Any] = {}
        methods = endpoint.methods
        if "GET" in methods:
            collection["get"] = {
                "tags": tag,
                "operationId": f"list_{operation_id}",
                "summary": f"List {title} objects",
                "parameters": self.list_parameters(schema_id),
                "responses": {
                    "200": {
                        "description": "one page of the matching objects",
                        "headers": {
                            "X-Total-Count": {
                                "schema": {"type": "integer", "minimum": 0},
                                "description": "the number of matching objects",
                            },
                            "Link": {
                                "schema": {"type": "string"},
                                "description": "RFC 8288 first/prev/next/last page links",
                            },
                        },
                        "content": {"application/json": {"schema": _list_envelope(item_response)}},
                    },
                    "400": _problem_ref("BadRequest"),
                },
            }
            item["get"] = {
                "tags": tag,
                "operationId": f"read_{operation_id}",
                "summary": f"Read one {title}",
                "parameters": self.item_parameters(schema_id),
                "responses": {
                    "200": _json("the object", item_response),
                    "400": _problem_ref("BadRequest"),
                    "404": _problem_ref("NotFound"),
                },
            }
        body_errors = {
            "400": _problem_ref("BadRequest"),
            "413": _problem_ref("PayloadTooLarge"),
            "415": _problem_ref("UnsupportedMediaType"),
        }
        if "POST" in methods:
            collection["post"] = {
                "tags": tag,
                "operationId": f"create_{operation_id}",
                "summary": f"Create a {title}",
                "requestBody": _body(self.ref(schema_id, "Input")),
                "responses": {
                    "201": {
                        **_json("the created object", item_response),
                        "headers": {
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "the new object's URL",
                            }
                        },
                    },
                    **body_errors,
                },
            }
        changes = {
            "PUT": ("replace", f"Replace a {title}", "Input", "the replaced object"),
            "PATCH": (
                "update",
                f"Change a {title} (JSON merge patch, RFC 7396)",
                "Patch",
                "the changed object",
            ),
        }
        for method, (verb, summary, variant, answer) in changes.items():
            if method not in methods:
                continue
            media = ("application/merge-patch+json",) if method == "PATCH" else ()
            item[method.lower()] = {
                "tags": tag,
                "operationId": f"{verb}_{operation_id}",
                "summary": summary,
                "requestBody": _body(self.ref(schema_id, variant), (*media, "application/json")),
                "responses": {
                    "200": _json(answer, item_response),
                    **body_errors,
                    "404": _problem_ref("NotFound"),
                },
            }
        if "DELETE" in methods:
            item["delete"] = {
                "tags": tag,
                "operationId": f"delete_{operation_id}",
                "summary": f"Delete a {title}",
                "responses": {
                    "204": {
                        "description": "deleted (with the dependants its relations cascade to)"
                    },
                    "404": _problem_ref("NotFound"),
                    "409": _problem_ref("Conflict"),
                },
            }
        result: dict[str, Any] = {}
        if collection:
            result[route] = collection
        if item:
            item["parameters"] = [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ]
            result[route + "/{id}"] = item
        return result

    def document(self) -> dict[str, Any]:
        for object_type in sorted(self.types.values(), key=lambda t: t.id):
            self.add_type(object_type)
        paths: dict[str, Any] = {}
        for endpoint in self.endpoints:
            paths.update(self.endpoint_paths(endpoint))
        base = self.info.base_path or "/"
        paths[base] = {
            "get": {
                "tags": ["Gateway"],
                "operationId": "api_index",
                "summary": "The loaded objecttypes and plugins",
                "responses": {"200": _json("the index", {"$ref": f"{_COMPONENTS}ApiIndex"})},
            }
        }
        paths["/health"] = {
            "get": {
                "tags": ["Gateway"],
                "operationId": "health",
                "summary": "Liveness",
                "responses": {
                    "200": _json(
                        "the gateway runs",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "ok"}},
                        },
                    )
                },
            }
        }
        return {
            "openapi": OPENAPI_VERSION,
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": {
                "title": self.info.title,
                "version": self.info.version,
                "description": _DESCRIPTION.format(max_body=self.info.max_body_bytes),
            },
            "paths": paths,
            "components": {
                "schemas": {**self.schemas, **_SHARED_SCHEMAS},
                "responses": _PROBLEM_RESPONSES,
            },
        }


_DESCRIPTION = (
    "Generated from the loaded schema files and plugin manifests. Every error is RFC 9457 "
    "problem+json. A method an endpoint does not offer answers 405 with an `Allow` header "
    "(`#/components/responses/MethodNotAllowed`); request bodies over {max_body} bytes answer "
    "413. Query parameters without a leading underscore are aliases of the reserved ones unless "
    "the objecttype has a property of that name."
)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(
    schema: dict[str, Any], media_types: tuple[str, ...] = ("application/json",)
) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema} for media in media_types}}


def _problem_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _list_envelope(item: dict[str, Any]) -> dict[str, Any]:
    counts = ("count", "limit", "total", "offset", "page", "pages")
    return {
        "type": "object",
        "required": ["results", *counts],
        "properties": {
            "results": {"type": "array", "items": item},
            **{name: {"type": "integer", "minimum": 0} for name in counts},
        },
        "additionalProperties": False,
    }


_SHARED_SCHEMAS: dict[str, Any] = {
    "SelfMetadata": {
        "type": "object",
        "readOnly": True,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "self": {"type": "string", "description": "the object's path"},
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "ref": {"type": "string"},
                    "name": {"type": "string"},
                },
            },
            "dateCreated": {"type": "string", "format": "date-time"},
            "dateModified": {"type": "string", "format": "date-time"},
            "owner": {
                "type": ["string", "null"],
                "description": "the client that created the object (null: anonymous)",
            },
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "1 at creation, +1 per change",
            },
        },
        "additionalProperties": False,
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "instance"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "invalidParams": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "code", "reason"],
                    "properties": {
                        "name": {"type": "string", "description": "dotted field or parameter name"},
                        "code": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    },
    "ApiIndex": {
        "type": "object",
        "required": ["objecttypes", "plugins"],
        "properties": {
            "objecttypes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "$id": {"type": "string"},
                        "title": {"type": "string"},
                        "version": {"type": "string"},
                        "endpoints": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "plugins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "title": {"type": "string"}},
                },
            },
        },
    },
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {_PROBLEM: {"schema": {"$ref": f"{_COMPONENTS}Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_PROBLEM_RESPONSES: dict[str, Any] = {
    "BadRequest": _problem(
        "malformed JSON, an invalid document (`invalidParams` names every field), or a query "
        "parameter that cannot mean anything (unknown path or operator, wrong type, out of range)"
    ),
    "NotFound": _problem("no object with this id"),
    "MethodNotAllowed": _problem(
        "the endpoint does not offer this method",
        {"Allow": {"schema": {"type": "string"}, "description": "the methods it offers"}},
    ),
    "Conflict": _problem("other objects still reference this one (they are named)"),
    "PayloadTooLarge": _problem("the body is larger than the configured limit"),
    "UnsupportedMediaType": _problem("the body is not JSON"),
}


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
