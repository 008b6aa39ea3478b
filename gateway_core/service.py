"""CRUD on objects: input rules, defaults, validation, relations, metadata, rendering.

The service knows objecttypes and endpoints, never HTTP: it takes parsed bodies and query
parameters and returns rendered objects or raises ProblemErrors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway_core.answer_cache import AnswerCache, EncodedAnswer, encode
from gateway_core.audit import audit_entries, version_of
from gateway_core.context import RequestContext, scope_for
from gateway_core.documents import copy_document, values_at
from gateway_core.embedding import ClaimedExtend, Renderer
from gateway_core.errors import BadRequest, Forbidden, InvalidParam, NotFound, ValidationFailed
from gateway_core.events import (
    POST_READ,
    POST_WRITE,
    PRE_CREATE,
    PRE_DELETE,
    PRE_READ,
    PRE_UPDATE,
    Event,
    EventDispatcher,
    Extension,
)
from gateway_core.linking import (
    ALL,
    OUTPUT_ONLY,
    ObjectChange,
    WritePlan,
    merge_patch,
    unknown_removals,
)
from gateway_core.manifest import Endpoint
from gateway_core.query import Condition, ListQuery, RelatedCondition, parse_list_query, project
from gateway_core.relations import classify
from gateway_core.schemas.formats import is_uuid
from gateway_core.schemas.paths import PathInfo, schema_paths
from gateway_core.schemas.registry import SchemaSet
from gateway_core.schemas.validation import validators_for
from gateway_core.storage import Change, Page, Store, StoredObject
from gateway_core.write_locks import WriteLocks

PAGING = {"limit", "page", "start", "offset"}

__all__ = ["BatchListener", "ObjectService", "list_envelope", "merge_patch", "utc_now"]

BatchListener = Callable[[Sequence[ObjectChange], RequestContext], Sequence[Change]]
Precondition = Callable[[StoredObject], None]
"""Checked on the current object inside the write's serialised section (If-Match: 412)."""
"""Adds its own changes (audit entries, outbox messages) to a write batch, which the store then
applies with the objects' changes as one atomic write."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def list_envelope(results: list[Any], page: Page, query: ListQuery) -> dict[str, Any]:
    return {
        "results": results,
        "count": len(results),
        "limit": query.limit,
        "total": page.total,
        "offset": query.offset,
        "page": query.page,
        "pages": max(1, math.ceil(page.total / query.limit)),
    }


class _ChangesOthers(Exception):
    """A write found to change other objects than its own: it must run alone."""


class ObjectService:
    def __init__(
        self,
        schemas: SchemaSet,
        endpoints: Iterable[Endpoint],
        store: Store,
        *,
        base_path: str = "/api",
        default_limit: int = 30,
        max_limit: int = 1000,
        clock: Callable[[], str] = utc_now,
        batch_listeners: Sequence[BatchListener] = (),
        events: EventDispatcher | None = None,
        write_locks: WriteLocks | None = None,
        answer_cache_bytes: int = 0,
    ) -> None:
        endpoints = list(endpoints)
        self.relations = classify(schemas, {e.schema_id for e in endpoints})
        self.schemas = self.relations.schemas  # relations stored as UUID references
        self.store = store
        self._default_limit = default_limit
        self._max_limit = max_limit
        self._no_options = ListQuery(limit=default_limit)
        self._clock = clock
        self._validators = validators_for(self.schemas)
        self._paths: dict[str, dict[str, PathInfo]] = {}
        self._routes: dict[str, list[str]] = {}
        for endpoint in endpoints:
            self._routes.setdefault(endpoint.schema_id, []).append(f"{base_path}{endpoint.route}/")
        self._titles = {sid: t.title for sid, t in self.schemas.types.items()}
        self.renderer = Renderer(store, self.relations, self.schemas.types, endpoints, base_path)
        self._locks = write_locks or WriteLocks()  # handed on to the service of a schema reload
        self._batch_listeners = tuple(batch_listeners)
        self.events = events or EventDispatcher()
        # endpoint route -> objecttype -> the `_extend` paths actions serve there (app.py sets it)
        self.extend_claims: dict[str, dict[str, frozenset[str]]] = {}
        self.answers = AnswerCache(answer_cache_bytes)
        # endpoint route -> (listeners added when decided, whether nobody may change its answers)
        self._unlistened: dict[str, tuple[int, bool]] = {}

    def paths(self, schema_id: str) -> dict[str, PathInfo]:
        if schema_id not in self._paths:
            self._paths[schema_id] = schema_paths(self.schemas, self.schemas.get(schema_id))
        return self._paths[schema_id]

    # -- writes --------------------------------------------------------------------------------

    def _validate(
        self,
        schema_id: str,
        data: dict[str, Any],
        object_id: str,
        previous: dict[str, Any] | None,
        prefix: str,
    ) -> tuple[dict[str, Any], list[InvalidParam]]:
        """Defaults applied, then every problem of the document (names prefixed for nested objects)."""
        validator = self._validators[schema_id]
        data = validator.with_defaults(data)
        declares_id = "id" in (self.schemas.get(schema_id).schema.get("properties") or {})
        problems = validator.check({"id": object_id, **data} if declares_id else data, previous)
        if prefix:
            problems = [
                InvalidParam(f"{prefix}.{p.name}" if p.name else prefix, p.code, p.reason)
                for p in problems
            ]
        return data, problems

    def _plan(self, context: RequestContext) -> WritePlan:
        return WritePlan(
            self.store,
            self.relations,
            self._validate,
            self.paths,
            self._routes,
            self._clock,
            self._titles,
            context,
        )

    async def _commit(self, plan: WritePlan, context: RequestContext) -> list[ObjectChange]:
        """The plan's changes and what every batch listener adds to them, as one atomic write."""
        changes: list[Change] = []
        planned, objects = plan.batch()
        changes += planned
        for listener in self._batch_listeners:
            changes += listener(objects, context)
        if changes:
            await self.store.write(changes)
        return objects

    async def _before(
        self,
        name: str,
        context: RequestContext,
        schema_id: str,
        object_id: str | None,
        data: dict[str, Any] | None,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """A `pre` life-cycle event: listeners may change the data or refuse (ProblemError)."""
        if not self.events.listens(name):
            return data
        event = Event(
            name,
            context,
            schema_id,
            object_id,
            data,
            copy_document(previous),
            query=(),
            may_refuse=True,
        )
        await self.events.dispatch(event)
        if data is not None and not isinstance(event.object, dict):
            raise BadRequest(f"The action on {name} left no object to write.")
        return event.object

    async def _after(self, objects: Sequence[ObjectChange], context: RequestContext) -> None:
        """`post` life-cycle events for every object the write created, changed or deleted."""
        for change in objects:
            name = POST_WRITE[change.action]
            if self.events.listens(name):
                after = change.after.data if change.after else None
                before = change.before.data if change.before else None
                await self.events.dispatch(
                    Event(
                        name,
                        context,
                        change.schema_id,
                        change.object_id,
                        copy_document(after),
                        copy_document(before),
                    )
                )

    @contextlib.asynccontextmanager
    async def _serialised(self, needed: bool = True) -> AsyncIterator[None]:
        """Writes that read or change other objects (relations, deletes) run alone."""
        if not needed:
            yield
            return
        async with self._locks.exclusive():
            yield

    @staticmethod
    def _data_from_body(
        body: Any, object_id: str | None
    ) -> tuple[dict[str, Any], list[InvalidParam]]:
        """The schema's properties from a request body; `id` and output-only metadata set apart."""
        if not isinstance(body, dict):
            kind = type(body).__name__ if body is not None else "null"
            raise BadRequest(f"The body must be a JSON object, got {kind}.")
        data = {key: value for key, value in body.items() if key not in OUTPUT_ONLY and key != "id"}
        problems: list[InvalidParam] = []
        if "id" in body and (object_id is None or body["id"] != object_id):
            reason = (
                "is assigned by the server" if object_id is None else "must equal the id in the URL"
            )
            problems.append(InvalidParam("id", "readOnly", reason))
        return data, problems

    def _refers(self, schema_id: str, data: dict[str, Any]) -> bool:
        """Whether the data holds relation values (then writing it reads and may change others)."""
        return any(values_at(data, r.path) for r in self.relations.of(schema_id))

    async def create(
        self, schema_id: str, body: Any, context: RequestContext, object_id: str | None = None
    ) -> StoredObject:
        data, problems = self._data_from_body(body, None)
        data = await self._before(PRE_CREATE, context, schema_id, object_id, data) or {}
        async with self._serialised(self._refers(schema_id, data)):
            plan = self._plan(context)
            plan.problems += problems
            record = await plan.create(schema_id, data, object_id=object_id)
            plan.primary = (schema_id, record.id)
            objects = await self._commit(plan, context)
        await self._after(objects, context)
        return record

    def _missing(self, schema_id: str, object_id: str) -> NotFound:
        return NotFound(f"There is no {self._titles[schema_id]} with id {object_id!r}.")

    async def read(self, schema_id: str, object_id: str, context: RequestContext) -> StoredObject:
        await self._before(PRE_READ, context, schema_id, object_id, None)
        record = await self.store.get(schema_id, object_id) if is_uuid(object_id) else None
        if record is None:
            raise self._missing(schema_id, object_id)
        return await self._read(schema_id, record, context)

    async def _read(
        self, schema_id: str, record: StoredObject, context: RequestContext
    ) -> StoredObject:
        """`post.read`: listeners may change what the caller sees (a copy, never the store's)."""
        if not self.events.listens(POST_READ):
            return record
        event = Event(
            POST_READ, context, schema_id, record.id, copy_document(record.data), may_refuse=True
        )
        await self.events.dispatch(event)
        data = event.object if isinstance(event.object, dict) else record.data
        return dataclasses.replace(record, data=data)

    def _audited(self, schema_id: str) -> None:
        if not self.schemas.get(schema_id).audited:
            raise NotFound(
                f"{self._titles[schema_id]} objects keep no audit trail (createAuditTrails: false)."
            )

    async def audit_trail(
        self, schema_id: str, object_id: str, params: Sequence[tuple[str, str]]
    ) -> tuple[Page, ListQuery]:
        """The object's audit entries, newest first, paged like a list (also once deleted)."""
        self._audited(schema_id)
        query = parse_list_query(params, {}, self._default_limit, self._max_limit)
        if query.conditions or query.search or query.order or query.fields or query.extend:
            raise BadRequest(
                "The audit trail takes _limit and _page (or _start/_offset) only.",
                invalid_params=[InvalidParam("query", "unknownParameter", "paging only")],
            )
        page = await audit_entries(
            self.store, schema_id, object_id.lower(), query.limit, query.offset
        )
        if page.total == 0 and (
            not is_uuid(object_id) or await self.store.get(schema_id, object_id) is None
        ):
            raise self._missing(schema_id, object_id)
        return page, query

    async def version(
        self, schema_id: str, object_id: str, version: int, context: RequestContext
    ) -> StoredObject:
        """The object as it was at `version` (`?_version=N`), from its audit trail."""
        self._audited(schema_id)
        record = (
            await version_of(self.store, schema_id, object_id.lower(), version)
            if is_uuid(object_id)
            else None
        )
        if record is None:
            raise NotFound(f"{self._titles[schema_id]} {object_id!r} has no version {version}.")
        return await self._read(schema_id, record, context)

    async def _current(self, plan: WritePlan, schema_id: str, object_id: str) -> StoredObject:
        """The object a write changes, loaded into the plan (which then knows its version)."""
        record = await plan.load(schema_id, object_id)
        if record is None:
            raise self._missing(schema_id, object_id)
        return record

    def _changes_others(
        self, schema_id: str, before: dict[str, Any], after: dict[str, Any]
    ) -> bool:
        """Whether writing `after` over `before` creates, changes or relinks other objects: nested
        objects at relation paths, or changed references of two-way (inversedBy) relations."""
        for relation in self.relations.of(schema_id):
            if relation.unchanged(before, after):
                continue  # the write leaves this relation as stored
            if any(isinstance(v, dict) for v in values_at(after, relation.path)):
                return True
            if relation.inverse is not None and set(values_at(before, relation.path)) != set(
                values_at(after, relation.path)
            ):
                return True
        return False

    async def _write(
        self,
        schema_id: str,
        object_id: str,
        context: RequestContext,
        new_data: Callable[[StoredObject], dict[str, Any]],
        problems: list[InvalidParam],
        precondition: Precondition | None,
    ) -> StoredObject:
        """Replace or update: `new_data` makes the object's next data from the current record.
        A write of this object alone runs beside other such writes (write_locks.py); one that
        changes other objects runs alone."""

        async def once(alone: bool) -> tuple[StoredObject, list[ObjectChange]]:
            plan = self._plan(context)
            current = await self._current(plan, schema_id, object_id)
            wanted = new_data(current)
            if not alone and self._changes_others(schema_id, current.data, wanted):
                raise _ChangesOthers
            data = (
                await self._before(PRE_UPDATE, context, schema_id, object_id, wanted, current.data)
                or {}
            )
            if (
                not alone
                and self.events.listens(PRE_UPDATE)
                and self._changes_others(schema_id, current.data, data)
            ):
                raise _ChangesOthers  # a pre action added relation changes
            plan.problems += problems
            plan.primary = (schema_id, object_id)
            record = await plan.update(schema_id, current, data)
            if precondition is not None:
                # an invalid body is a 400 whatever the version; then If-Match (412), still
                # inside the serialised section, so nothing can change in between
                if plan.problems:
                    raise ValidationFailed(list(plan.problems))
                precondition(current)
            return record, await self._commit(plan, context)

        try:
            async with self._locks.shared(), self._locks.one((schema_id, object_id)):
                record, objects = await once(alone=False)
        except _ChangesOthers:
            async with self._locks.exclusive():
                record, objects = await once(alone=True)
        await self._after(objects, context)
        return record

    async def replace(
        self,
        schema_id: str,
        object_id: str,
        body: Any,
        context: RequestContext,
        precondition: Precondition | None = None,
    ) -> StoredObject:
        data, problems = self._data_from_body(body, object_id)
        return await self._write(
            schema_id, object_id, context, lambda _: data, problems, precondition
        )

    async def update(
        self,
        schema_id: str,
        object_id: str,
        patch: Any,
        context: RequestContext,
        precondition: Precondition | None = None,
    ) -> StoredObject:
        changes, problems = self._data_from_body(patch, object_id)
        problems += unknown_removals(changes, self.paths(schema_id))
        return await self._write(
            schema_id,
            object_id,
            context,
            lambda current: merge_patch(copy_document(current.data), changes),
            problems,
            precondition,
        )

    async def delete(
        self,
        schema_id: str,
        object_id: str,
        context: RequestContext,
        precondition: Precondition | None = None,
    ) -> None:
        async with self._serialised():
            plan = self._plan(context)
            current = await self._current(plan, schema_id, object_id)
            if precondition is not None:
                precondition(current)
            await self._before(PRE_DELETE, context, schema_id, object_id, None, current.data)
            plan.primary = (schema_id, object_id)
            await plan.delete(schema_id, current)
            objects = await self._commit(plan, context)
        await self._after(objects, context)

    @property
    def write_locks(self) -> WriteLocks:
        return self._locks

    async def count_invalid(self, schema_id: str) -> int:
        """How many stored objects the objecttype's (new) schema would refuse."""
        invalid = 0
        async for record in self.store.stream(schema_id, ListQuery(limit=ALL)):
            data = copy_document(record.data)
            _, problems = self._validate(schema_id, data, record.id, record.data, "")
            invalid += bool(problems)
        return invalid

    async def put_many(
        self, objects: Sequence[tuple[str, str, dict[str, Any], str]], context: RequestContext
    ) -> tuple[int, int]:
        """Create or replace (schema $id, object id, data, label) objects in ONE atomic batch, in
        order, so later objects may refer to earlier ones; problems are named `<label>.<field>`.
        Returns (created, replaced)."""
        created = replaced = 0
        async with self._serialised():
            plan = self._plan(context)
            for schema_id, object_id, data, label in objects:
                clean, problems = self._data_from_body(data, object_id)
                plan.problems += [
                    InvalidParam(f"{label}.{p.name}", p.code, p.reason) for p in problems
                ]
                current = await plan.load(schema_id, object_id)
                if current is None:
                    await plan.create(schema_id, clean, label, object_id=object_id)
                    created += 1
                else:
                    await plan.update(schema_id, current, clean, label)
                    replaced += 1
            await self._commit(plan, context)
        return created, replaced

    # -- reads ---------------------------------------------------------------------------------

    async def _joined(
        self, condition: Condition | RelatedCondition, context: RequestContext
    ) -> Condition:
        """A condition across a relation, as `in` the ids of the related objects that match. Only
        objecttypes the caller may read can be filtered on: an answer would tell what they hold."""
        if isinstance(condition, Condition):
            return condition
        if not context.principal.may(condition.target, "GET"):
            scope = scope_for(condition.target, "GET")
            raise Forbidden(
                f"Query parameter {condition.parameter!r} filters on "
                f"{self._titles[condition.target]} objects, which needs the scope {scope}.",
                scope,
                condition.parameter,
            )
        inner = await self._joined(condition.condition, context)
        page = await self.store.query(condition.target, ListQuery((inner,), limit=ALL))
        ids = tuple(record.id for record in page.items)
        return Condition(condition.path, "in", ids, "string", condition.parameter, condition.arrays)

    def _claims(self, endpoint: Endpoint | None) -> dict[str, frozenset[str]]:
        return self.extend_claims.get(endpoint.route, {}) if endpoint else {}

    async def list_query(
        self,
        schema_id: str,
        params: Sequence[tuple[str, str]],
        context: RequestContext,
        endpoint: Endpoint | None = None,
        whole: bool = False,
    ) -> ListQuery:
        """The parsed query, checked against the caller's scopes, with joins resolved. `whole`:
        every match unless the parameters ask for a page (exports)."""
        query = parse_list_query(
            params,
            self.paths(schema_id),
            self._default_limit,
            ALL if whole else self._max_limit,
            self.paths,
        )
        if whole and not any(key.lstrip("_") in PAGING for key, _ in params):
            query = dataclasses.replace(query, limit=ALL, offset=0)
        self.renderer.check_extend(
            schema_id, query.extend, context.principal, self._claims(endpoint)
        )
        if any(isinstance(c, RelatedCondition) for c in query.conditions):
            conditions = tuple([await self._joined(c, context) for c in query.conditions])
            query = dataclasses.replace(query, conditions=conditions)
        return query

    async def list(
        self,
        schema_id: str,
        params: Sequence[tuple[str, str]],
        context: RequestContext,
        endpoint: Endpoint | None = None,
    ) -> tuple[Page, ListQuery]:
        query = await self.list_query(schema_id, params, context, endpoint)
        page = await self.store.query(schema_id, query)
        if self.events.listens(POST_READ):
            items = [await self._read(schema_id, record, context) for record in page.items]
            page = Page(items, page.total)
        return page, query

    async def stream(
        self, schema_id: str, query: ListQuery, context: RequestContext
    ) -> AsyncIterator[StoredObject]:
        """Every object of a `list_query(..., whole=True)`, as the caller may see it."""
        async for record in self.store.stream(schema_id, query):
            yield await self._read(schema_id, record, context)

    def item_options(
        self,
        schema_id: str,
        params: Sequence[tuple[str, str]],
        context: RequestContext,
        endpoint: Endpoint | None = None,
    ) -> ListQuery:
        """`_fields` and `_extend` for a single object; any other parameter is a 400."""
        if not params:  # most reads: nothing to parse or check
            return self._no_options
        query = parse_list_query(
            params, self.paths(schema_id), self._default_limit, self._max_limit
        )
        if query.conditions or query.search or query.order:
            names = [c.parameter for c in query.conditions] or ["_search/_order"]
            raise BadRequest(
                f"Only _fields and _extend apply to a single object, not {names[0]!r}.",
                invalid_params=[
                    InvalidParam(names[0], "unknownParameter", "does not apply to a single object")
                ],
            )
        self.renderer.check_extend(
            schema_id, query.extend, context.principal, self._claims(endpoint)
        )
        return query

    async def present(
        self,
        schema_id: str,
        record: StoredObject,
        endpoint: Endpoint,
        context: RequestContext,
        query: ListQuery | None = None,
    ) -> dict[str, Any]:
        document = await self.renderer.render(
            schema_id, record, endpoint, context.principal, query.extend if query else ()
        )
        if query is not None and query.fields is not None:
            document = project(document, query.fields)
        return document

    def plain_answers(self, endpoint: Endpoint, query: ListQuery | None) -> bool:
        """Whether the answer is the objects' renderings alone: no `_fields` or `_extend`, and
        nobody listening who may change what is read or answered (then `encoded` serves it)."""
        if query is not None and (query.fields is not None or query.extend):
            return False
        decided = self._unlistened.get(endpoint.route)
        if decided is None or decided[0] != self.events.added:
            unlistened = not self.events.listens(POST_READ) and not any(
                self.events.listens(name, extensions=False) for name in endpoint.throws
            )
            decided = self._unlistened[endpoint.route] = (self.events.added, unlistened)
        return decided[1]

    async def encoded(
        self, schema_id: str, record: StoredObject, endpoint: Endpoint, context: RequestContext
    ) -> EncodedAnswer:
        """A plain answer's JSON body and ETag, from the answer cache while the object (and what
        its rendering looked up) is unchanged."""
        principal = context.principal
        key = (endpoint.route, record.id, principal.unrestricted, principal.scopes)
        generation = self.store.generation  # before rendering: a write meanwhile makes it stale
        found = self.answers.get(key, record.version, record.modified, generation)
        if found is not None:
            return found
        document, looked_up = await self.renderer.render_traced(
            schema_id, record, endpoint, principal
        )
        answer = encode(
            document, record.version, record.modified, generation if looked_up else None
        )
        if not looked_up or generation is not None:
            self.answers.put(key, answer)
        return answer

    async def after_request(
        self,
        endpoint: Endpoint,
        context: RequestContext,
        body: Any,
        documents: Sequence[dict[str, Any]],
        query: ListQuery | None,
        params: Sequence[tuple[str, str]] = (),
    ) -> Any:
        """The events the endpoint `throws`, after the request, with the answer's body (which
        listeners may change) and the objects of the `_extend` paths that actions serve."""
        claimed: list[ClaimedExtend] | None = None
        for name in endpoint.throws:
            if not self.events.listens(name):
                continue
            if claimed is None:
                claimed = self.renderer.check_extend(
                    endpoint.schema_id,
                    query.extend if query else (),
                    context.principal,
                    self._claims(endpoint),
                )
            if not self.events.listens(name, extensions=bool(claimed)):
                continue
            extensions = [
                Extension(
                    item.path,
                    item.schema_id,
                    item.suffix,
                    [
                        found
                        for document in documents
                        for found in self.renderer.along(document, item.chain)
                    ],
                )
                for item in claimed
            ]
            event = Event(
                name,
                context,
                endpoint.schema_id,
                response=body,
                query=params,
                extensions=extensions,
                may_refuse=context.method in ("GET", "HEAD"),
            )
            body = (await self.events.dispatch(event)).response
        return body
