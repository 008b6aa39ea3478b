"""The path items of an endpoint: a collection (list, create) and an item (read, replace, update,
delete), each with the methods its manifest allows.

One small function per operation. To describe more, add to what these return: another status
(in responses.PROBLEMS, then named in `errors`), another media type (the `media_types` of
`json_response` / `request_body`), or another item sub-path (as `/audittrail` is added in
`endpoint_path_items`).

Every operation carries the security requirement of its scope when the gateway has `auth`
configured (401 and 403 then documented); item reads carry `ETag` and answer 304 to
`If-None-Match`; writes take `If-Match` (412). A facade endpoint (installation.json's mappings)
is described in its facade's shape, with the query parameters its query mapping reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_core.openapi.components import AUDIT_ENTRY, INPUT, PATCH, UUID_STRING, ref
from gateway_core.openapi.names import camel, pascal
from gateway_core.openapi.responses import (
    MERGE_PATCH,
    empty_response,
    errors,
    header,
    headers,
    json_response,
    request_body,
)


@dataclass(frozen=True)
class EndpointView:
    """What the operations of one endpoint need to know."""

    schema_id: str
    component: str  # the objecttype's component name, e.g. `Partij`
    title: str  # the objecttype's title, e.g. `Partij`
    route: str  # the collection's path relative to the server URL, e.g. `/partijen`
    methods: frozenset[str]
    list_parameters: list[dict[str, Any]]
    item_parameters: list[dict[str, Any]]
    trail_parameters: list[dict[str, Any]] = field(default_factory=list)
    # per method: the security requirements (None: the gateway has no `auth`, all is open)
    security: Mapping[str, list[dict[str, list[str]]]] | None = None
    audited: bool = False  # keeps an audit trail (`/audittrail`, `version`)
    facade: bool = False  # requests and answers are mapped: no CSV export, no audit trail
    option_names: Mapping[str, str] = field(default_factory=dict)  # `format` -> its name here
    input_component: str = ""  # a facade's input shape, when it is another than its output

    @property
    def writes(self) -> str:
        return self.input_component or self.component

    @property
    def operation_suffix(self) -> str:
        return pascal(self.route)

    @property
    def tag(self) -> str:
        return self.title


ETAG = {"ETag": header('the version of the object and a digest of this answer ("<version>-...")')}
_TAG_LIST = r'(W/)?"[0-9]+-[^",]*"(\s*,\s*(W/)?"[0-9]+-[^",]*")*'
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "description": "change only if the object is still at the version of one of these ETags "
    "(`*`: only if it exists); else 412 and nothing changes",
    "schema": {"type": "string", "pattern": f"^(\\*|{_TAG_LIST})$"},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "description": "the ETags the caller has; 304 without a body when the answer would carry "
    "one of them",
    "schema": {"type": "string"},
}
CSV = "text/csv"


def _operation(
    view: EndpointView, verb: str, summary: str, description: str, method: str, **parts: Any
) -> dict[str, Any]:
    operation = {
        "tags": [view.tag],
        "operationId": camel(f"{verb} {view.operation_suffix}"),
        "summary": summary,
        "description": description,
        **parts,
    }
    if view.security is not None:
        operation["security"] = view.security[method]
        operation["responses"] = {**operation["responses"], **errors("401", "403")}
    return operation


def paging_headers(counted: str) -> dict[str, Any]:
    return {
        "X-Total-Count": header(f"the number of {counted}", {"type": "integer"}),
        "Link": header("RFC 8288 first/prev/next/last page links"),
    }


def _option(view: EndpointView, name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    documented = view.option_names.get(name, f"_{name}")
    also = f" (also `_{name}`)" if documented == name else ""
    return {"name": documented, "in": "query", "description": text + also, "schema": schema}


def list_operation(view: EndpointView) -> dict[str, Any]:
    envelope = list_envelope(ref(view.component))
    paging = paging_headers("matching objects")
    if view.facade:
        return _operation(
            view,
            "list",
            f"List {view.title} objects",
            f"One page of the {view.title} objects that match every filter. JSON only.",
            "GET",
            parameters=view.list_parameters,
            responses={
                "200": json_response("one page of the matching objects", envelope, paging),
                **errors("400", "406"),
            },
        )
    export = [
        _option(
            view,
            "format",
            {"type": "string", "enum": ["json", "csv"]},
            "`csv`: the whole filtered, ordered list (no paging) as CSV, like `Accept: text/csv`",
        ),
        _option(
            view,
            "delimiter",
            {"type": "string", "enum": [";", ",", "tab"], "default": ";"},
            "the CSV field separator",
        ),
    ]
    ok = json_response("one page of the matching objects", envelope, paging)
    ok["content"][CSV] = {
        "schema": {
            "type": "string",
            "description": "UTF-8 with a byte-order mark, a header row of dotted paths, one "
            "row per object; arrays joined with ` | ` (docs/governance.md)",
        }
    }
    return _operation(
        view,
        "list",
        f"List {view.title} objects",
        f"One page of the {view.title} objects that match every filter, in the requested order; "
        "or, with `Accept: text/csv` or the `format` parameter, all of them as CSV.",
        "GET",
        parameters=[*view.list_parameters, *export],
        responses={"200": ok, **errors("400")},
    )


def create_operation(view: EndpointView) -> dict[str, Any]:
    location = {"Location": header("the new object's URL")}
    return _operation(
        view,
        "create",
        f"Create a {view.title}",
        f"Creates a {view.title}, with the new related objects nested in the body, all or "
        "nothing. `id`, `_self` and `embedded` are set by the gateway (`_self` and `embedded` in "
        "a body are ignored; an `id` is refused).",
        "POST",
        requestBody=request_body(ref(view.writes + INPUT)),
        responses={
            "201": json_response("the created object", ref(view.component), {**location, **ETAG}),
            **errors("400", "413", "415"),
        },
    )


def read_operation(view: EndpointView) -> dict[str, Any]:
    parameters = [*view.item_parameters, IF_NONE_MATCH]
    if view.audited:
        version = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
        parameters.append(
            _option(
                view,
                "version",
                version,
                "the object as it was at this version (404 if it never had it)",
            )
        )
    return _operation(
        view,
        "read",
        f"Read one {view.title}",
        f"The {view.title} with this id, with its related objects under `embedded`.",
        "GET",
        parameters=parameters,
        responses={
            "200": json_response("the object", ref(view.component), ETAG),
            "304": {
                "description": "not modified: the answer would carry an ETag in If-None-Match",
                "headers": headers(**ETAG),
            },
            **errors("400", "404"),
        },
    )


def replace_operation(view: EndpointView) -> dict[str, Any]:
    return _operation(
        view,
        "replace",
        f"Replace a {view.title}",
        "Replaces the whole object: properties left out are removed. An `id` in the body is "
        "accepted when it equals the id in the URL; `_self` and `embedded` are ignored, so a "
        "read answer can be sent back.",
        "PUT",
        parameters=[IF_MATCH],
        requestBody=request_body(ref(view.writes + INPUT)),
        responses={
            "200": json_response("the replaced object", ref(view.component), ETAG),
            **errors("400", "404", "412", "413", "415"),
        },
    )


def update_operation(view: EndpointView) -> dict[str, Any]:
    return _operation(
        view,
        "update",
        f"Change a {view.title}",
        "JSON merge patch (RFC 7396, `Content-Type: application/merge-patch+json`; "
        "`application/json` is accepted too): the body's properties are merged into the object, "
        "`null` removes one, an array replaces the stored one whole. An `id` in the body is "
        "accepted when it equals the id in the URL; `_self` and `embedded` are ignored.",
        "PATCH",
        parameters=[IF_MATCH],
        # one media type: generators (openapi-python-client) emit broken code for two
        requestBody=request_body(ref(view.writes + PATCH), (MERGE_PATCH,)),
        responses={
            "200": json_response("the changed object", ref(view.component), ETAG),
            **errors("400", "404", "412", "413", "415"),
        },
    )


def delete_operation(view: EndpointView) -> dict[str, Any]:
    return _operation(
        view,
        "delete",
        f"Delete a {view.title}",
        "Deletes the object and the dependants its relations cascade to; objects that may lose "
        "their link to it are unlinked. When another object cannot let go of it (a required "
        "or non-cascading reference) the answer is 409 naming those objects (docs/relations.md).",
        "DELETE",
        parameters=[IF_MATCH],
        responses={
            "204": empty_response("deleted"),
            **errors("400", "404", "409", "412"),
        },
    )


def audit_trail_operation(view: EndpointView) -> dict[str, Any]:
    envelope = list_envelope(ref(AUDIT_ENTRY))
    paging = paging_headers("entries")
    return _operation(
        view,
        "list",
        f"The audit trail of a {view.title}",
        f"Who created, changed or deleted this {view.title} and what changed, newest first; "
        "kept after the object is deleted (docs/governance.md).",
        "GET",
        parameters=view.trail_parameters,
        responses={
            "200": json_response("one page of the entries", envelope, paging),
            **errors("400", "404"),
        },
    ) | {"operationId": camel(f"list {view.operation_suffix} audit trail")}


_COLLECTION_OPERATIONS = {"GET": ("get", list_operation), "POST": ("post", create_operation)}
_ITEM_OPERATIONS = {
    "GET": ("get", read_operation),
    "PUT": ("put", replace_operation),
    "PATCH": ("patch", update_operation),
    "DELETE": ("delete", delete_operation),
}
ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "the object's id",
    "schema": UUID_STRING,
}


def endpoint_path_items(view: EndpointView) -> dict[str, Any]:
    """`{route: collection path item, route/{id}: item path item}`, methods as allowed."""
    collection = {
        method: build(view)
        for name, (method, build) in _COLLECTION_OPERATIONS.items()
        if name in view.methods
    }
    item = {
        method: build(view)
        for name, (method, build) in _ITEM_OPERATIONS.items()
        if name in view.methods
    }
    items: dict[str, Any] = {}
    if collection:
        items[view.route] = collection
    if item:
        items[f"{view.route}/{{id}}"] = {"parameters": [ID_PARAMETER], **item}
    if view.audited and not view.facade and "GET" in view.methods:
        trail = {"get": audit_trail_operation(view)}
        items[f"{view.route}/{{id}}/audittrail"] = {"parameters": [ID_PARAMETER], **trail}
    return items


def list_envelope(item: dict[str, Any]) -> dict[str, Any]:
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
