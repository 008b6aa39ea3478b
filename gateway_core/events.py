"""Events and the one dispatcher that hands them to listeners (docs/events.md).

Two kinds of events:

- the object life cycle, under Common Gateway's names (`commongateway.object.pre.create`, ...):
  thrown by the service for every object a write creates, changes or deletes, and for the objects
  a read returns. A `pre` listener sees the object before it is written and may change it or
  refuse the request by raising a ProblemError (4xx); `post` listeners see what was written.
- the events an endpoint `throws` (installation.json), thrown after the request with the answer's
  body, which listeners may change (the customer-interaction plugin's `klant.object.extend`).

Only the listeners of an event that may still refuse (`Event.may_refuse`) can turn it into an
error answer; after a write is stored, a failing listener is logged and the answer stands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway_core.context import RequestContext
from gateway_core.errors import ProblemError

log = logging.getLogger("gateway.events")

PRE_CREATE = "commongateway.object.pre.create"
POST_CREATE = "commongateway.object.post.create"
PRE_UPDATE = "commongateway.object.pre.update"
POST_UPDATE = "commongateway.object.post.update"
PRE_DELETE = "commongateway.object.pre.delete"
POST_DELETE = "commongateway.object.post.delete"
PRE_READ = "commongateway.object.pre.read"
POST_READ = "commongateway.object.post.read"
LIFE_CYCLE = (
    PRE_CREATE,
    POST_CREATE,
    PRE_UPDATE,
    POST_UPDATE,
    PRE_DELETE,
    POST_DELETE,
    PRE_READ,
    POST_READ,
)
POST_WRITE = {"create": POST_CREATE, "update": POST_UPDATE, "delete": POST_DELETE}


@dataclass(frozen=True)
class Extension:
    """An `_extend` path that no relation serves but a listener of a thrown event claims: the
    rendered objects of `schema_id` it applies to (inside the answer, so changes show), and the
    part of the path inside them (`externeIdentificatie.partijIdentificator`)."""

    parameter: str
    schema_id: str
    suffix: str
    documents: Sequence[dict[str, Any]]


@dataclass
class Event:
    name: str
    context: RequestContext
    schema_id: str | None = None
    object_id: str | None = None
    object: dict[str, Any] | None = None  # the object's data: pre events may change it
    previous: dict[str, Any] | None = None  # before an update or delete
    response: Any = None  # thrown events: the answer's body, which listeners may change
    query: Sequence[tuple[str, str]] = ()
    extensions: Sequence[Extension] = ()
    may_refuse: bool = False

    def data(self) -> dict[str, Any]:
        """What action conditions (JsonLogic) see. `entity` is Common Gateway's name for the
        objecttype; here it is the schema `$id`."""
        return {
            "event": self.name,
            "entity": self.schema_id,
            "schema": self.schema_id,
            "id": self.object_id,
            "object": self.object,
            "previous": self.previous,
            "response": self.response,
            "client": self.context.client_id,
            "request": {
                "method": self.context.method,
                "path": self.context.path,
                "query": dict(self.query),
            },
        }


class Listener(Protocol):
    """Gets an event; may change `event.object` (pre) or `event.response` (thrown events)."""

    @property
    def name(self) -> str: ...

    @property
    def extensions_only(self) -> bool:
        """True for a listener that does nothing with an event without `extensions`."""

    async def __call__(self, event: Event) -> None: ...


@dataclass(frozen=True)
class FunctionListener:
    name: str
    function: Callable[[Event], Awaitable[None]]
    extensions_only: bool = False

    async def __call__(self, event: Event) -> None:
        await self.function(event)


@dataclass(order=True)
class _Entry:
    sort_key: tuple[int, int]
    listener: Listener = field(compare=False)


class EventDispatcher:
    """Listeners per event name, called one after another, highest priority first (then in the
    order they were added)."""

    def __init__(self) -> None:
        self._entries: dict[str, list[_Entry]] = {}
        self._added = 0

    @property
    def added(self) -> int:
        """How many listeners were added so far: what was decided from `listens` holds while it
        is unchanged."""
        return self._added

    def listen(self, name: str, listener: Listener, priority: int = 0) -> None:
        self._added += 1
        entries = self._entries.setdefault(name, [])
        entries.append(_Entry((-priority, self._added), listener))
        entries.sort()

    def listens(self, name: str, extensions: bool = True) -> bool:
        """Whether anyone listens to `name`; with `extensions` False, anyone who acts on such an
        event when it carries no `_extend` objects."""
        entries = self._entries.get(name)
        if not entries:
            return False
        return extensions or any(not entry.listener.extensions_only for entry in entries)

    def names(self) -> list[str]:
        return sorted(name for name, entries in self._entries.items() if entries)

    def listeners(self, name: str) -> list[Listener]:
        return [entry.listener for entry in self._entries.get(name, ())]

    async def dispatch(self, event: Event) -> Event:
        for entry in list(self._entries.get(event.name, ())):
            try:
                await entry.listener(event)
            except ProblemError as error:
                if event.may_refuse:
                    raise
                log.warning(
                    "%s on %s failed after the change was made (the answer stands): %s",
                    entry.listener.name,
                    event.name,
                    error.detail,
                )
            except Exception:
                log.exception("%s on %s failed", entry.listener.name, event.name)
                if event.may_refuse:
                    raise ProblemError(
                        f"The action {entry.listener.name!r} failed on {event.name}; the error "
                        "is logged and nothing was changed."
                    ) from None
        return event
