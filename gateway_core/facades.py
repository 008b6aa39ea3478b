"""Facade endpoints: an endpoint whose requests and answers are mapped (docs/mappings.md).

The HTTP layer asks a `Facade` to map the request body and query in (to the objecttype's own
shape) and every answered object out (to the facade's shape). When the endpoint names a facade
shape (a JSON Schema in the plugin's `Facade/` folder), bodies are first checked against its
input or patch variant (schemas/variants.py, the ones the OpenAPI document shows), so problems
name the facade's fields. A PATCH on a facade is applied to
the facade's shape: the current object is mapped out, the patch merged into it (RFC 7396), the
result mapped in and written as a replacement, so fields the facade does not show are kept as
they are and nested objects keep their identity when the out mapping shows their `id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway_core.errors import BadRequest, InvalidParam, ProblemError, ValidationFailed
from gateway_core.manifest import EndpointMapping
from gateway_core.mapping import MappingError, Mappings, query_in, query_out
from gateway_core.schemas.registry import ObjectType
from gateway_core.schemas.validation import schema_checker
from gateway_core.schemas.variants import (
    input_variant,
    patch_variant,
    query_schema,
    without_meta,
)


class MappingFailed(ProblemError):
    status = 500
    title = "Mapping failed"
    type_suffix = "mapping-failed"


class Facade:
    def __init__(
        self, mappings: Mappings, config: EndpointMapping, shape: ObjectType | None = None
    ) -> None:
        self.mappings = mappings
        self.config = config
        self._renames = self._names(config.in_body) + self._names(config.in_query)
        schema = without_meta(shape.schema) if shape is not None else None
        properties = (schema or {}).get("properties") or {}
        # ignored in a body, as `_self` and `embedded` are: a read answer may be sent back
        self._read_only = {n for n, p in properties.items() if p.get("readOnly") is True}
        self._check_input = schema_checker(input_variant(schema)) if schema else None
        self._check_patch = schema_checker(patch_variant(schema)) if schema else None
        self.query_names = query_names(mappings, config)
        self._check_query = (
            schema_checker(query_schema(schema, self.query_names))
            if schema and self.query_names
            else None
        )
        self.written = written_keys(mappings, config)

    def check_patch(self, patch: Any) -> None:
        if self._check_patch is not None and (problems := self._check_patch(patch)):
            raise ValidationFailed(problems)

    def _names(self, reference: str | None) -> list[tuple[str, str]]:
        """(our path, the facade's name) of the in mapping's copying rules, longest first."""
        if reference is None:
            return []
        rules = self.mappings.get(reference).simple_rules()
        pairs = [
            (target.replace("&#46;", "."), source.replace("&#46;", "."))
            for target, source in rules.items()
        ]
        return sorted(pairs, key=lambda pair: -len(pair[0]))

    def body_in(self, body: Any, checked: bool = False) -> Any:
        """The body mapped in; checked against the shape's input variant first, unless the caller
        checked it already (a PATCH checks the patch, not the fields it does not touch)."""
        if self.config.in_body is None:
            return body
        if not isinstance(body, dict):
            kind = type(body).__name__ if body is not None else "null"
            raise BadRequest(f"The body must be a JSON object, got {kind}.")
        body = {k: v for k, v in body.items() if k not in self._read_only}
        if not checked and self._check_input is not None and (problems := self._check_input(body)):
            raise ValidationFailed(problems)
        try:
            return self.mappings.apply(self.config.in_body, body)
        except MappingError as error:
            raise _refused(error, 400) from None

    def query_in(self, params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.config.in_query is None:
            return list(params)
        if self._check_query is not None:
            known = {key: value for key, value in params if key in self.query_names}
            if problems := self._check_query(known):
                raise BadRequest(
                    "Query parameters with values this endpoint cannot filter on: "
                    + ", ".join(p.name for p in problems)
                    + ".",
                    invalid_params=problems,
                )
        try:
            return query_out(self.mappings.apply(self.config.in_query, query_in(params)))
        except MappingError as error:
            raise _refused(error, 400) from None

    def out(self, document: Any) -> Any:
        if self.config.out_body is None or document is None:
            return document
        try:
            return self.mappings.apply(self.config.out_body, document)
        except MappingError as error:
            raise _refused(error, 500) from None

    def rename(self, error: ProblemError) -> ProblemError:
        """The problem with the fields named as the facade names them, where a rule copies them."""
        if not isinstance(error, ValidationFailed) or not self._renames:
            return error
        renamed = []
        for param in error.invalid_params:
            name = param.name
            for ours, theirs in self._renames:
                if name == ours or name.startswith(ours + "."):
                    name = theirs + name[len(ours) :]
                    break
            renamed.append(InvalidParam(name, param.code, param.reason))
        return ValidationFailed(renamed)


def query_names(mappings: Mappings, config: EndpointMapping) -> tuple[str, ...]:
    """The query parameters an endpoint's query mapping reads: the facade's names it unsets
    once mapped (the others pass through when the mapping says `passTrough`)."""
    if config.in_query is None:
        return ()
    return tuple(name.replace("&#46;", ".") for name in mappings.get(config.in_query).unset)


def written_keys(mappings: Mappings, config: EndpointMapping) -> frozenset[str]:
    """The top-level properties of the objecttype the body mapping writes; a PATCH through the
    facade keeps the others (such as the other side of a two-way link) as they are."""
    if config.in_body is None:
        return frozenset()
    rules = mappings.get(config.in_body).rules
    return frozenset(rule.target.split(".")[0].replace("&#46;", ".") for rule in rules)


def _refused(error: MappingError, status: int) -> ProblemError:
    side = "the request" if status < 500 else "the answer"
    problem = MappingFailed(
        f"Mapping {error.mapping} could not map {side} at {error.target or 'its root'!r}: {error.reason}",
        invalid_params=[InvalidParam(error.target or error.mapping, "mapping", error.reason)],
    )
    problem.status = status
    if status < 500:
        problem.title = "Bad Request"
    return problem
