"""CRUD on objects: input rules, defaults, validation, relations, metadata, rendering.

The service knows objecttypes and endpoints, never HTTP: it takes parsed bodies and query
parameters and returns rendered objects or raises ProblemErrors.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway_core.embedding import Renderer
from gateway_core.errors import BadRequest, InvalidParam, NotFound
from gateway_core.linking import ALL, OUTPUT_ONLY, WritePlan, merge_patch, unknown_removals
from gateway_core.manifest import Endpoint
from gateway_core.query import Condition, ListQuery, RelatedCondition, parse_list_query, project
from gateway_core.relations import classify
from gateway_core.schemas.formats import is_uuid
from gateway_core.schemas.paths import PathInfo, schema_paths
from gateway_core.schemas.registry import SchemaSet
from gateway_core.schemas.validation import validators_for
from gateway_core.storage import Page, Store, StoredObject

__all__ = ["ObjectService", "list_envelope", "merge_patch", "utc_now"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def list_envelope(results: list[dict[str, Any]], page: Page, query: ListQuery) -> dict[str, Any]:
    return {
        "results": results,
        "count": len(results),
        "limit": query.limit,
        "total": page.total,
        "offset": query.offset,
        "page": query.page,
        "pages": max(1, math.ceil(page.total / query.limit)),
    }


def _holds_value(data: Any, path: str) -> bool:
    """Whether a value (a reference or a nested object) sits at the path, through arrays."""
    parts = path.split(".")
    values = [data]
    for part in parts:
        values = [
            child
            for value in values
            for element in (value if isinstance(value, list) else [value])
            if isinstance(element, dict) and (child := element.get(part)) is not None
        ]
    return bool(values)


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
    ) -> None:
        endpoints = list(endpoints)
        self.relations = classify(schemas, {e.schema_id for e in endpoints})
        self.schemas = self.relations.schemas  # relations stored as UUID references
        self.store = store
        self._default_limit = default_limit
        self._max_limit = max_limit
        self._clock = clock
        self._validators = validators_for(self.schemas)
        self._paths: dict[str, dict[str, PathInfo]] = {}
        self._routes: dict[str, list[str]] = {}
        for endpoint in endpoints:
            self._routes.setdefault(endpoint.schema_id, []).append(f"{base_path}{endpoint.route}/")
        self._titles = {sid: t.title for sid, t in self.schemas.types.items()}
        self.renderer = Renderer(store, self.relations, self.schemas.types, endpoints, base_path)
        self._write_lock = asyncio.Lock()

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

    def _plan(self) -> WritePlan:
        return WritePlan(
            self.store,
            self.relations,
            self._validate,
            self.paths,
            self._routes,
            self._clock,
            self._titles,
        )

    @contextlib.asynccontextmanager
    async def _serialised(self, needed: bool = True) -> AsyncIterator[None]:
        """Writes that read other objects (relations, updates, deletes) run one at a time."""
        if not needed:
            yield
            return
        async with self._write_lock:
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
        return any(_holds_value(data, r.path) for r in self.relations.of(schema_id))

    async def create(self, schema_id: str, body: Any, object_id: str | None = None) -> StoredObject:
        data, problems = self._data_from_body(body, None)
        async with self._serialised(self._refers(schema_id, data)):
            plan = self._plan()
            plan.problems += problems
            record = await plan.create(schema_id, data, object_id=object_id)
            await plan.commit()
        return record

    async def read(self, schema_id: str, object_id: str) -> StoredObject:
        record = await self.store.get(schema_id, object_id) if is_uuid(object_id) else None
        if record is None:
            raise NotFound(f"There is no {self._titles[schema_id]} with id {object_id!r}.")
        return record

    async def replace(self, schema_id: str, object_id: str, body: Any) -> StoredObject:
        data, problems = self._data_from_body(body, object_id)
        async with self._serialised():
            current = await self.read(schema_id, object_id)
            plan = self._plan()
            plan.problems += problems
            record = await plan.update(schema_id, current, data)
            await plan.commit()
        return record

    async def update(self, schema_id: str, object_id: str, patch: Any) -> StoredObject:
        changes, problems = self._data_from_body(patch, object_id)
        problems += unknown_removals(changes, self.paths(schema_id))
        async with self._serialised():
            current = await self.read(schema_id, object_id)
            plan = self._plan()
            plan.problems += problems
            record = await plan.update(
                schema_id, current, merge_patch(copy.deepcopy(current.data), changes)
            )
            await plan.commit()
        return record

    async def delete(self, schema_id: str, object_id: str) -> None:
        async with self._serialised():
            current = await self.read(schema_id, object_id)
            plan = self._plan()
            await plan.delete(schema_id, current)
            await plan.commit()

    async def put_many(
        self, objects: Sequence[tuple[str, str, dict[str, Any], str]]
    ) -> tuple[int, int]:
        """Create or replace (schema $id, object id, data, label) objects in ONE atomic batch, in
        order, so later objects may refer to earlier ones; problems are named `<label>.<field>`.
        Returns (created, replaced)."""
        created = replaced = 0
        async with self._serialised():
            plan = self._plan()
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
            await plan.commit()
        return created, replaced

    # -- reads ---------------------------------------------------------------------------------

    async def _joined(self, condition: Condition | RelatedCondition) -> Condition:
        """A condition across a relation, as `in` the ids of the related objects that match."""
        if isinstance(condition, Condition):
            return condition
        inner = await self._joined(condition.condition)
        page = await self.store.query(condition.target, ListQuery((inner,), limit=ALL))
        ids = tuple(record.id for record in page.items)
        return Condition(condition.path, "in", ids, "string", condition.parameter, condition.arrays)

    async def list(
        self, schema_id: str, params: Sequence[tuple[str, str]]
    ) -> tuple[Page, ListQuery]:
        query = parse_list_query(
            params, self.paths(schema_id), self._default_limit, self._max_limit, self.paths
        )
        self.renderer.check_extend(schema_id, query.extend)
        if any(isinstance(c, RelatedCondition) for c in query.conditions):
            conditions = tuple([await self._joined(c) for c in query.conditions])
            query = ListQuery(
                conditions,
                query.search,
                query.order,
                query.limit,
                query.offset,
                query.fields,
                query.extend,
            )
        return await self.store.query(schema_id, query), query

    def item_options(self, schema_id: str, params: Sequence[tuple[str, str]]) -> ListQuery:
        """`_fields` and `_extend` for a single object; any other parameter is a 400."""
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
        self.renderer.check_extend(schema_id, query.extend)
        return query

    async def present(
        self,
        schema_id: str,
        record: StoredObject,
        endpoint: Endpoint,
        query: ListQuery | None = None,
    ) -> dict[str, Any]:
        document = await self.renderer.render(
            schema_id, record, endpoint, query.extend if query else ()
        )
        if query is not None and query.fields is not None:
            document = project(document, query.fields)
        return document
