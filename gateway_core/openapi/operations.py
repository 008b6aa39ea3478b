"""The path items of an endpoint: a collection (list, create) and an item (read, replace, update,
delete), each with the methods its manifest allows.

One small function per operation. To describe more, add to what these return: another status
(`errors("401", "403")` once those are in responses.PROBLEMS), another media type (the
`media_types` of `json_response` / `request_body`), or another item sub-path (a new entry in
`endpoint_path_items`, e.g. `f"{item}/audittrail"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway_core.openapi.components import INPUT, PATCH, UUID_STRING, ref
from gateway_core.openapi.names import camel, pascal
from gateway_core.openapi.responses import (
    MERGE_PATCH,
    empty_response,
    errors,
    header,
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

    @property
    def operation_suffix(self) -> str:
        return pascal(self.route)

    @property
    def tag(self) -> str:
        return self.title


def _operation(
    view: EndpointView, verb: str, summary: str, description: str, **parts: Any
) -> dict[str, Any]:
    return {
        "tags": [view.tag],
        "operationId": camel(f"{verb} {view.operation_suffix}"),
        "summary": summary,
        "description": description,
        **parts,
    }


def list_operation(view: EndpointView) -> dict[str, Any]:
    envelope = list_envelope(ref(view.component))
    paging = {
        "X-Total-Count": header("the number of matching objects", {"type": "integer"}),
        "Link": header("RFC 8288 first/prev/next/last page links"),
    }
    return _operation(
        view,
        "list",
        f"List {view.title} objects",
        f"One page of the {view.title} objects that match every filter, in the requested order.",
        parameters=view.list_parameters,
        responses={
            "200": json_response("one page of the matching objects", envelope, paging),
            **errors("400"),
        },
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
        requestBody=request_body(ref(view.component + INPUT)),
        responses={
            "201": json_response("the created object", ref(view.component), location),
            **errors("400", "413", "415"),
        },
    )


def read_operation(view: EndpointView) -> dict[str, Any]:
    return _operation(
        view,
        "read",
        f"Read one {view.title}",
        f"The {view.title} with this id, with its related objects under `embedded`.",
        parameters=view.item_parameters,
        responses={
            "200": json_response("the object", ref(view.component)),
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
        requestBody=request_body(ref(view.component + INPUT)),
        responses={
            "200": json_response("the replaced object", ref(view.component)),
            **errors("400", "404", "413", "415"),
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
        # one media type: generators (openapi-python-client) emit broken code for two
        requestBody=request_body(ref(view.component + PATCH), (MERGE_PATCH,)),
        responses={
            "200": json_response("the changed object", ref(view.component)),
            **errors("400", "404", "413", "415"),
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
        responses={
            "204": empty_response("deleted"),
            **errors("404", "409"),
        },
    )


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
