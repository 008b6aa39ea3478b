"""Facade endpoints: an endpoint whose requests and answers are mapped (docs/mappings.md).

The HTTP layer asks a `Facade` to map the request body and query in (to the objecttype's own
shape) and every answered object out (to the facade's shape). A PATCH on a facade is applied to
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


class MappingFailed(ProblemError):
    status = 500
    title = "Mapping failed"
    type_suffix = "mapping-failed"


class Facade:
    def __init__(self, mappings: Mappings, config: EndpointMapping) -> None:
        self.mappings = mappings
        self.config = config
        self._renames = self._names(config.in_body) + self._names(config.in_query)

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

    def body_in(self, body: Any) -> Any:
        if self.config.in_body is None:
            return body
        if not isinstance(body, dict):
            kind = type(body).__name__ if body is not None else "null"
            raise BadRequest(f"The body must be a JSON object, got {kind}.")
        try:
            return self.mappings.apply(self.config.in_body, body)
        except MappingError as error:
            raise _refused(error, 400) from None

    def query_in(self, params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.config.in_query is None:
            return list(params)
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
