"""Responses, headers and request bodies of the document, and the shared response components.

Every answer carries the `API-Version` header (gateway_core/api_version.py sends it). Errors are
problem+json responses kept once under `#/components/responses`, by status code: to describe a
new error answer (401, 403, 412, ...), add it to `PROBLEMS` and name its status in an operation.
"""

from __future__ import annotations

from typing import Any

from gateway_core.openapi.names import COMPONENT_HEADERS, COMPONENT_RESPONSES, COMPONENT_SCHEMAS

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
PROBLEM = "application/problem+json"
API_VERSION = "API-Version"

# Error answers by status code: (component name, what it means).
PROBLEMS: dict[str, tuple[str, str]] = {
    "400": (
        "BadRequest",
        "malformed JSON, an invalid document (`invalidParams` names every field), or a query "
        "parameter that cannot mean anything (unknown path or operator, wrong type, out of range)",
    ),
    "401": (
        "Unauthorized",
        "no credentials, or credentials that do not hold (`Authorization: Token <key>` or "
        "`Bearer <jwt>`); the answer carries `WWW-Authenticate`",
    ),
    "403": ("Forbidden", "the credentials hold but lack the scope this operation needs (named)"),
    "404": ("NotFound", "no object with this id"),
    "406": ("NotAcceptable", "the answer cannot be given in the media type asked for"),
    "409": (
        "Conflict",
        "the object is still referred to by objects that cannot let go of it (they are named)",
    ),
    "412": (
        "PreconditionFailed",
        "`If-Match` names a version the object no longer has: it changed since it was read, and "
        "nothing was changed now",
    ),
    "413": ("PayloadTooLarge", "the body is larger than the configured limit"),
    "415": ("UnsupportedMediaType", "the body is not JSON"),
}


def headers(**extra: dict[str, Any]) -> dict[str, Any]:
    """The headers of an answer: `API-Version`, then `extra` (name -> header object)."""
    return {API_VERSION: {"$ref": f"{COMPONENT_HEADERS}{API_VERSION}"}, **extra}


def header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def content(schema: dict[str, Any], media_types: tuple[str, ...] = (JSON,)) -> dict[str, Any]:
    return {media: {"schema": schema} for media in media_types}


def json_response(
    description: str,
    schema: dict[str, Any],
    extra_headers: dict[str, Any] | None = None,
    media_types: tuple[str, ...] = (JSON,),
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers(**(extra_headers or {})),
        "content": content(schema, media_types),
    }


def empty_response(description: str) -> dict[str, Any]:
    return {"description": description, "headers": headers()}


def errors(*statuses: str) -> dict[str, Any]:
    """References to the shared problem responses of these status codes."""
    return {status: {"$ref": f"{COMPONENT_RESPONSES}{PROBLEMS[status][0]}"} for status in statuses}


def request_body(
    schema: dict[str, Any], media_types: tuple[str, ...] = (JSON,), description: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": content(schema, media_types)}
    if description:
        body["description"] = description
    return body


def shared_components(api_version: str) -> dict[str, Any]:
    """`components.headers` and `components.responses`."""
    problem = {"$ref": f"{COMPONENT_SCHEMAS}Problem"}
    return {
        "headers": {
            API_VERSION: {
                "description": "the full version of the API (semantic versioning), on every "
                "answer, errors included",
                "required": True,
                "schema": {"type": "string", "example": api_version},
            }
        },
        "responses": {
            name: {
                "description": text,
                "headers": headers(),
                "content": content(problem, (PROBLEM,)),
            }
            for name, text in PROBLEMS.values()
        },
    }
