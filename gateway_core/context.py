"""Who is asking, and what they may do: the principal and the context every request carries.

Scopes (docs/security.md) name an area, a target and a method:

    schemas.<$id>.<METHOD>      objects of one objecttype, e.g. schemas.https://ex.org/partij.schema.json.GET
    admin.<METHOD>              the gateway's own administration endpoints (the outbox)

`*` stands for any `$id` or any method (`schemas.*.GET`, `schemas.<$id>.*`, `admin.*`). A `$id`
holds dots itself, so a scope is read from both ends: the area before the first dot, the method
after the last one, the `$id` in between.

The context is passed explicitly from the HTTP layer to the service, the events and the audit
trail; nothing reads it from a global.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
AREAS = ("schemas", "admin")


def scope_problem(scope: str) -> str | None:
    """Why `scope` is not a scope, or None when it is one."""
    area, _, rest = scope.partition(".")
    if area not in AREAS:
        return f"must start with {' or '.join(a + '.' for a in AREAS)}"
    if area == "admin":
        method = rest
    else:
        target, dot, method = rest.rpartition(".")
        if not dot or not target:
            return "must be schemas.<$id or *>.<METHOD or *>"
    if method != "*" and method not in METHODS:
        return f"ends in {method!r}, not one of {', '.join(METHODS)} or *"
    return None


def scope_for(schema_id: str, method: str) -> str:
    return f"schemas.{schema_id}.{'GET' if method == 'HEAD' else method}"


def admin_scope(method: str) -> str:
    return f"admin.{'GET' if method == 'HEAD' else method}"


def _grants(granted: str, needed: str) -> bool:
    if granted == needed:
        return True
    granted_area, _, granted_rest = granted.partition(".")
    needed_area, _, needed_rest = needed.partition(".")
    if granted_area != needed_area:
        return False
    if granted_area == "admin":
        return granted_rest == "*"
    granted_target, _, granted_method = granted_rest.rpartition(".")
    needed_target, _, needed_method = needed_rest.rpartition(".")
    return granted_target in ("*", needed_target) and granted_method in ("*", needed_method)


@dataclass(frozen=True)
class Principal:
    """A caller: a configured client (by id) or anonymous (`client_id` None).

    `unrestricted` is the principal of a gateway without an `auth` configuration, and of the
    gateway's own commands (fixtures, migrations): every scope is granted."""

    client_id: str | None
    scopes: frozenset[str] = frozenset()
    unrestricted: bool = False
    _decided: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @property
    def anonymous(self) -> bool:
        return self.client_id is None

    def has(self, needed: str) -> bool:
        if self.unrestricted:
            return True
        decided = self._decided.get(needed)
        if decided is None:
            decided = self._decided[needed] = any(_grants(s, needed) for s in self.scopes)
        return decided

    def may(self, schema_id: str, method: str) -> bool:
        return self.has(scope_for(schema_id, method))


def unrestricted_principal() -> Principal:
    return Principal(None, unrestricted=True)


def restricted_principal(client_id: str | None, scopes: Iterable[str]) -> Principal:
    return Principal(client_id, frozenset(scopes))


@dataclass(frozen=True)
class RequestContext:
    """One request (or one command) as the layers below HTTP see it."""

    principal: Principal
    method: str = ""
    path: str = ""
    # work to run once the answer is sent (asynchronous actions); the HTTP layer runs it as a
    # background task, a command after its own work
    deferred: list[Callable[[], Awaitable[None]]] = field(default_factory=list, compare=False)

    @property
    def client_id(self) -> str | None:
        return self.principal.client_id

    @functools.cached_property
    def request_id(self) -> str:
        """Made when first asked for (audit entries): most requests never need one."""
        return str(uuid.uuid4())

    async def run_deferred(self) -> None:
        while self.deferred:
            await self.deferred.pop(0)()


def system_context(what: str = "") -> RequestContext:
    """The context of the gateway's own work (fixtures, migrations, tests): may do everything,
    records no client."""
    return RequestContext(unrestricted_principal(), method="SYSTEM", path=what)
