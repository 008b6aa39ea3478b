"""The gateway's one exception tree.

GatewayError
├── ProblemError            an answer to a request, rendered as RFC 9457 problem+json
│   ├── BadRequest          400
│   │   └── ValidationFailed   400 with invalidParams
│   ├── Unauthorized        401 (+ WWW-Authenticate)
│   ├── Forbidden           403 (names the scope needed)
│   ├── NotFound            404
│   ├── MethodNotAllowed    405 (+ Allow)
│   ├── NotAcceptable       406
│   ├── Conflict            409
│   ├── PreconditionFailed  412
│   ├── PayloadTooLarge     413
│   ├── UnsupportedMediaType 415
│   ├── BadGateway          502 (an external source failed; names it)
│   ├── ServiceUnavailable  503 (a query ran past its time limit)
│   └── GatewayTimeout      504 (an external source did not answer in time; names it)
├── SchemaError             a schema file or manifest that cannot be loaded (stops start-up)
├── ConfigError             settings that make no sense (stops start-up)
└── StoreError              the data store cannot be opened or used
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InvalidParam:
    """One invalid field: dotted `name` (list indexes as numbers), failed keyword `code`."""

    name: str
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "code": self.code, "reason": self.reason}


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ProblemError(GatewayError):
    status = 500
    title = "Internal Server Error"
    type_suffix = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        invalid_params: list[InvalidParam] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid_params = list(invalid_params or [])
        self.headers = dict(headers or {})

    def problem(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://gateway.local/problems/{self.type_suffix}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.invalid_params:
            body["invalidParams"] = [p.as_dict() for p in self.invalid_params]
        return body


class BadRequest(ProblemError):
    status = 400
    title = "Bad Request"
    type_suffix = "bad-request"


class ValidationFailed(BadRequest):
    title = "Invalid input"
    type_suffix = "invalid-input"

    def __init__(self, invalid_params: list[InvalidParam], detail: str | None = None) -> None:
        names = ", ".join(sorted({p.name for p in invalid_params}))
        super().__init__(
            detail or f"The request has invalid values: {names}.", invalid_params=invalid_params
        )


class Unauthorized(ProblemError):
    status = 401
    title = "Unauthorized"
    type_suffix = "unauthorized"

    def __init__(self, detail: str, challenge: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"
    type_suffix = "forbidden"

    def __init__(self, detail: str, scope: str, parameter: str | None = None) -> None:
        params = [InvalidParam(parameter, "scope", f"needs the scope {scope}")] if parameter else []
        super().__init__(detail, invalid_params=params)
        self.scope = scope

    def problem(self, instance: str) -> dict[str, Any]:
        return {**super().problem(instance), "scope": self.scope}


class NotFound(ProblemError):
    status = 404
    title = "Not Found"
    type_suffix = "not-found"


class MethodNotAllowed(ProblemError):
    status = 405
    title = "Method Not Allowed"
    type_suffix = "method-not-allowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        allow = ", ".join(allowed)
        super().__init__(
            f"{method} is not allowed here; allowed: {allow or 'none'}.", headers={"Allow": allow}
        )


class NotAcceptable(ProblemError):
    status = 406
    title = "Not Acceptable"
    type_suffix = "not-acceptable"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"
    type_suffix = "conflict"


class PreconditionFailed(ProblemError):
    status = 412
    title = "Precondition Failed"
    type_suffix = "precondition-failed"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Payload Too Large"
    type_suffix = "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported Media Type"
    type_suffix = "unsupported-media-type"


class BadGateway(ProblemError):
    status = 502
    title = "Bad Gateway"
    type_suffix = "bad-gateway"


class ServiceUnavailable(ProblemError):
    status = 503
    title = "Service Unavailable"
    type_suffix = "service-unavailable"


class GatewayTimeout(ProblemError):
    status = 504
    title = "Gateway Timeout"
    type_suffix = "gateway-timeout"


class SchemaError(GatewayError):
    """A schema file (or manifest) that cannot be used: names the file, the JSON pointer and the cause."""

    def __init__(self, source: str, pointer: str, cause: str) -> None:
        self.source = source
        self.pointer = pointer or "/"
        self.cause = cause
        super().__init__(f"{source}: at {self.pointer}: {cause}")


class ConfigError(GatewayError):
    pass


class StoreError(GatewayError):
    pass
