"""Facade endpoints in the document: their shapes (a JSON Schema in a plugin's `Facade/` folder)
as components `T` (the output variant), `TInput` and `TPatch` (the variants of
schemas/variants.py, which the gateway checks bodies against), and the query parameters their
query mapping reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.openapi.components import INPUT, PATCH
from gateway_core.openapi.parameters import family
from gateway_core.schemas.registry import ObjectType
from gateway_core.schemas.variants import (
    input_variant,
    output_variant,
    patch_variant,
    query_schema,
    without_meta,
)


@dataclass(frozen=True)
class FacadeDoc:
    shape: ObjectType  # what the endpoint answers
    input_shape: ObjectType  # what it takes
    query: tuple[str, ...] = ()  # the query parameters its query mapping reads (facade names)


def facade_components(shapes: Mapping[str, ObjectType], names: Mapping[str, str]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for shape_id, shape in shapes.items():
        name = names[shape_id]
        schema = without_meta(shape.schema)
        described = {"description": schema.get("description") or shape.title}
        components[name] = {"title": name, **output_variant(schema), **described}
        components[name + INPUT] = {"title": name + INPUT, **input_variant(schema), **described}
        components[name + PATCH] = {"title": name + PATCH, **patch_variant(schema), **described}
    return components


def query_mapped(facade: FacadeDoc) -> list[dict[str, Any]]:
    """The query parameters the facade's query mapping reads, as one form-exploded family (the
    names are the facade's, such as `embedded.subjectIdentificatie.inpBsn`, which no parameter
    name may be)."""
    if not facade.query:
        return []
    text = (
        "Filters as the facade's clients send them, `name=value` (this parameter's own name is "
        "not sent); `[like]`: contains; `_order[name]`: sort by it (docs/mappings.md)."
    )
    properties = query_schema(facade.shape.schema, facade.query)["properties"]
    return [family("filter", properties, text)]
