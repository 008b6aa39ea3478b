"""Actions (Common Gateway's Action format): which handler runs on which events, under which
JsonLogic condition, with which configuration (docs/events.md).

An action file (a plugin's `Action/*.json`, beside its installation.json, as in CG bundles):

    {"$id": "...", "title": "...", "listens": ["klant.object.extend"],
     "conditions": {"==": [1, 1]}, "class": "<handler name or CG class name>",
     "configuration": {...}, "priority": 0, "async": false, "isEnabled": true}

`class` names a handler a plugin registers (`Plugin.action_handlers`): by its `name`, or by one
of its `aliases` (the PHP class a CG bundle names). gateway.yaml's `actions` section may override
`isEnabled`, `priority`, `async` and `configuration` per action `$id`. Conditions are JsonLogic,
evaluated by panzi-json-logic (imported here only) on `Event.data()`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from json_logic import jsonLogic

from gateway_core.errors import SchemaError
from gateway_core.events import Event, EventDispatcher
from gateway_core.schemas.paths import PathInfo
from gateway_core.schemas.registry import ObjectType, read_json
from gateway_core.sources import Sources

log = logging.getLogger("gateway.actions")
ALWAYS: dict[str, Any] = {"==": [1, 1]}


@dataclass(frozen=True)
class ActionSpec:
    id: str
    title: str
    listens: tuple[str, ...]
    conditions: Any
    handler: str
    configuration: dict[str, Any]
    priority: int = 0
    is_async: bool = False
    enabled: bool = True
    source: str = ""


@dataclass(frozen=True)
class ActionServices:
    """What a handler may use: the sources, the objecttypes and their dotted paths."""

    sources: Sources
    types: Mapping[str, ObjectType]
    paths: Callable[[str], Mapping[str, PathInfo]]


class ActionHandler(Protocol):
    """A plugin's handler class. `claims` are the `_extend` paths it serves: objecttype `$id` ->
    paths inside such objects that are not relations (the engine accepts them in `_extend` on
    endpoints that throw the events the action listens to, and hands the objects over in
    `Event.extensions`). A handler that does nothing with an event without such objects says so
    with a class attribute `extensions_only = True`: the engine then skips it for requests without
    `_extend` and may answer them from its cache of encoded objects (answer_cache.py)."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]]

    def __init__(self, configuration: Mapping[str, Any], services: ActionServices) -> None: ...

    def claims(self) -> Mapping[str, frozenset[str]]: ...

    async def run(self, event: Event) -> None: ...


HandlerClass = type[ActionHandler]


def _text_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SchemaError(where, "/listens", "must be a list of event names")
    return tuple(value)


def read_action(path: Path) -> ActionSpec:
    document = read_json(path)
    source = str(path)
    if not isinstance(document, dict):
        raise SchemaError(source, "/", "an action must be a JSON object")
    handler = document.get("class")
    if not isinstance(handler, str) or not handler:
        raise SchemaError(source, "/class", "must name a handler")
    configuration = document.get("configuration") or {}
    if not isinstance(configuration, dict):
        raise SchemaError(source, "/configuration", "must be an object")
    priority = document.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise SchemaError(source, "/priority", "must be an integer")
    spec = ActionSpec(
        id=str(document.get("$id") or path.name),
        title=str(document.get("title") or path.stem),
        listens=_text_list(document.get("listens"), source),
        conditions=document.get("conditions", ALWAYS),
        handler=handler,
        configuration=configuration,
        priority=priority,
        is_async=document.get("async", False) is True,
        enabled=document.get("isEnabled", True) is not False,
        source=source,
    )
    check_conditions(spec.conditions, source)
    return spec


def check_conditions(conditions: Any, source: str) -> None:
    """Refuse, at start-up, a condition that names an operation JsonLogic does not have."""
    try:
        jsonLogic(conditions, {})
    except ReferenceError as error:  # how panzi-json-logic reports an unrecognized operation
        raise SchemaError(source, "/conditions", f"not valid JsonLogic: {error}") from None
    except Exception:  # an operation that needs data the empty event lacks: fine at run time
        pass


def read_actions(folder: Path) -> list[ActionSpec]:
    return [read_action(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def apply_override(spec: ActionSpec, override: Mapping[str, Any]) -> ActionSpec:
    return dataclasses.replace(
        spec,
        enabled=override.get("isEnabled", spec.enabled) is not False,
        priority=int(override.get("priority", spec.priority)),
        is_async=override.get("async", spec.is_async) is True,
        configuration={**spec.configuration, **(override.get("configuration") or {})},
    )


@dataclass
class ActionListener:
    """Runs a handler for an action when its condition holds; asynchronous actions run on a copy
    of the event once the answer is sent."""

    spec: ActionSpec
    handler: ActionHandler
    name: str = field(init=False)
    extensions_only: bool = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"action {self.spec.title!r}"
        self.extensions_only = getattr(self.handler, "extensions_only", False) is True

    def holds(self, event: Event) -> bool:
        if self.spec.conditions in (ALWAYS, True):
            return True
        try:
            return bool(jsonLogic(self.spec.conditions, event.data()))
        except Exception as error:  # a condition that cannot be evaluated on this data
            log.warning("%s: condition could not be evaluated (%s); skipped", self.name, error)
            return False

    async def __call__(self, event: Event) -> None:
        if (self.extensions_only and not event.extensions) or not self.holds(event):
            return
        if not self.spec.is_async:
            await self.handler.run(event)
            return
        detached = dataclasses.replace(
            event,
            object=copy.deepcopy(event.object),
            previous=copy.deepcopy(event.previous),
            response=copy.deepcopy(event.response),
            may_refuse=False,
        )

        async def later() -> None:
            try:
                await self.handler.run(detached)
            except Exception:
                log.exception("%s (asynchronous) failed on %s", self.name, event.name)

        event.context.deferred.append(later)


def handler_registry(handlers: Iterable[HandlerClass]) -> dict[str, HandlerClass]:
    registry: dict[str, HandlerClass] = {}
    for handler in handlers:
        for name in (handler.name, *handler.aliases):
            registry[name] = handler
    return registry


def install_actions(
    specs: Sequence[ActionSpec],
    handlers: Iterable[HandlerClass],
    services: ActionServices,
    dispatcher: EventDispatcher,
) -> list[ActionListener]:
    """Instantiate every enabled action's handler and make it listen. An action whose handler no
    loaded plugin registers is left out with a warning naming its file (a CG bundle's actions
    load unchanged; its PHP handlers are not here)."""
    registry = handler_registry(handlers)
    listeners = []
    for spec in specs:
        handler_class = registry.get(spec.handler)
        if handler_class is None:
            known = ", ".join(sorted({h.name for h in registry.values()})) or "none"
            log.warning(
                "%s: no loaded plugin registers the handler %r (known: %s); the action is off",
                spec.source,
                spec.handler,
                known,
            )
            continue
        if not spec.enabled:
            continue
        listener = ActionListener(spec, handler_class(spec.configuration, services))
        for name in spec.listens:
            dispatcher.listen(name, listener, spec.priority)
        listeners.append(listener)
    return listeners


def extend_claims(
    listeners: Iterable[ActionListener], events: Iterable[str]
) -> dict[str, frozenset[str]]:
    """The `_extend` paths served on an endpoint that throws `events`: objecttype -> paths."""
    wanted = set(events)
    claims: dict[str, set[str]] = {}
    for listener in listeners:
        if wanted & set(listener.spec.listens):
            for schema_id, paths in listener.handler.claims().items():
                claims.setdefault(schema_id, set()).update(paths)
    return {schema_id: frozenset(paths) for schema_id, paths in claims.items()}
