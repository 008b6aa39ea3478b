"""Query parameters: paging, ordering, search, projection and the filters of the query language.

Parameter names are lowerCamelCase (NL API Design Rules): the reserved parameters go by their
alias without the underscore (`limit`, `page`, ...), or keep it where the objecttype has a
property of that name. Filters are named by dotted paths and operators (`a.b[>=]`), which no
parameter name may be; they are described as a small set of families: one form-exploded object
parameter per operator, whose properties are the names that are really sent (`filter` holds
`path=value`, `greaterOrEqual` holds `path[>=]=value`, ...). A family's own name is never sent.
The other operators (docs/query-language.md) are described in the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway_core.query import MAX_OFFSET, MAX_PAGE, METADATA_PATHS
from gateway_core.schemas.paths import PathInfo

_NULL_TESTS: dict[str, Any] = {"type": "string", "enum": ["IS NULL", "IS NOT NULL"]}
_CONTAINS: dict[str, Any] = {"type": "string", "pattern": "%", "description": "contains"}
_DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_ORDERED_KINDS = ("number", "date-time", "date")

# Family parameter name -> (operator sent in brackets, what it means).
RANGE_FAMILIES: dict[str, tuple[str, str]] = {
    "greaterOrEqual": (">=", "at least"),
    "greater": (">", "greater than (later than)"),
    "lessOrEqual": ("<=", "at most"),
    "less": ("<", "less than (earlier than)"),
}
_OTHER_OPERATORS = (
    "`exact` / `case_sensitive` (strings case-sensitively), `case_insensitive`, `like` "
    "(contains), `regex`, `ne` (not equal, or absent), `after` / `before` / `strictly_after` / "
    "`strictly_before` (dates), `int_compare`, `bool_compare`, and `>=`, `>`, `<=`, `<` on "
    "strings"
)


def filterable(paths: Mapping[str, PathInfo]) -> dict[str, PathInfo]:
    """The paths a filter or `order` may name: scalar values (objects must be filtered inside)."""
    scalar = {
        path: info
        for path, info in paths.items()
        if not (info.types and info.types <= {"object", "array"})
    }
    return {**METADATA_PATHS, **scalar}


def reserved(name: str, paths: Mapping[str, PathInfo]) -> str:
    """The name a reserved parameter is documented by: its alias, unless a property takes it."""
    return f"_{name}" if name in paths else name


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _comma_list(name: str, items: dict[str, Any], description: str) -> dict[str, Any]:
    if "enum" in items:  # an empty item is ignored (`fields=`: only `id` and `_self`)
        items = {**items, "enum": [*items["enum"], ""]}
    return {
        **query(name, {"type": "array", "items": items}, description),
        "style": "form",
        "explode": False,
    }


def paging_parameters(
    paths: Mapping[str, PathInfo], default_limit: int, max_limit: int
) -> list[dict[str, Any]]:
    limit = {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit}
    return [
        query(reserved("limit", paths), limit, "page size (also `_limit`)"),
        query(
            reserved("page", paths),
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            "page number, from 1 (also `_page`)",
        ),
        query(
            reserved("offset", paths),
            {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
            "offset of the first result, instead of `page` (also `_offset`, `start`, `_start`)",
        ),
    ]


def order_parameter(paths: Mapping[str, PathInfo]) -> dict[str, Any]:
    sortable = list(filterable(paths))
    directions = [variant for path in sortable for variant in (path, f"-{path}")]
    return _comma_list(
        reserved("order", paths),
        {"type": "string", "enum": directions},
        "paths to sort by, in order of precedence; `-path` sorts descending; ties keep creation "
        "order (also `_order`, and `order[path]=asc|desc`)",
    )


def search_parameter(paths: Mapping[str, PathInfo]) -> dict[str, Any]:
    return query(
        reserved("search", paths),
        {"type": "string"},
        "case-insensitive literal text searched for in every string value (also `_search`; "
        "`_search[a,b.c]=text` searches only those paths)",
    )


def projection_parameters(paths: Mapping[str, PathInfo], chains: list[str]) -> list[dict[str, Any]]:
    """`fields` and `extend`: for lists and single objects alike."""
    fields = sorted({"id", "_self", "embedded", *METADATA_PATHS, *paths})
    parameters = [
        _comma_list(
            reserved("fields", paths),
            {"type": "string", "enum": fields},
            "dotted paths to return; `id` and `_self` always stay (also `_fields`, "
            "`_fields[]=path`)",
        )
    ]
    if chains:
        parameters.append(
            _comma_list(
                reserved("extend", paths),
                {"type": "string", "enum": chains},
                "chains of relations to embed beyond the objecttype's maxDepth (also "
                "`_extend`, `_extend[]=chain`); longer chains than listed are accepted too",
            )
        )
    return parameters


def _equality_value(kind: str) -> dict[str, Any]:
    """What `path=value` accepts for a path compared as `kind`."""
    if kind == "number":
        return {"anyOf": [{"type": "number"}, _NULL_TESTS]}
    if kind == "boolean":
        return {"anyOf": [{"type": "boolean"}, _NULL_TESTS]}
    if kind == "date-time":
        return {"anyOf": [_DATE_TIME, _DATE, _CONTAINS, _NULL_TESTS]}
    if kind == "date":
        # the format also at the top (it constrains strings only), as the ADR linter asks of a
        # `...Datum` (nlgov:specify-format-for-date-and-time)
        return {"format": "date", "anyOf": [_DATE, _CONTAINS, _NULL_TESTS]}
    return {"type": "string"}


def _range_value(kind: str) -> dict[str, Any]:
    if kind == "number":
        return {"type": "number"}
    if kind == "date-time":
        return {"anyOf": [_DATE_TIME, _DATE]}
    return _DATE


def family(name: str, properties: dict[str, Any], description: str) -> dict[str, Any]:
    """A form-exploded object parameter whose properties are the names really sent."""
    return {
        "name": name,
        "in": "query",
        "style": "form",
        "explode": True,
        "description": description,
        "schema": {"type": "object", "properties": properties, "additionalProperties": False},
    }


def filter_parameters(paths: Mapping[str, PathInfo]) -> list[dict[str, Any]]:
    """The filter families of a list operation."""
    candidates = filterable(paths)
    equality = {path: _equality_value(info.scalar_type) for path, info in candidates.items()}
    families = [
        family(
            "filter",
            equality,
            "Filters `path=value` (this parameter's own name is not sent): equal to the value, "
            "strings case-insensitively as a whole, numbers and booleans by type, date-times as "
            "instants; a `%` in a string or date value means contains; `IS NULL` / `IS NOT "
            "NULL` test absence. A path through an array matches when any element does. One of "
            "several values: `path[]=a&path[]=b`. Across relations: `relation.path=value`. "
            f"Other operators, `path[operator]=value`: {_OTHER_OPERATORS} "
            "(docs/query-language.md).",
        )
    ]
    ordered = {
        path: info for path, info in candidates.items() if info.scalar_type in _ORDERED_KINDS
    }
    for name, (operator, meaning) in RANGE_FAMILIES.items():
        if not ordered:
            break
        properties = {
            f"{path}[{operator}]": _range_value(info.scalar_type) for path, info in ordered.items()
        }
        families.append(
            family(
                name,
                properties,
                f"Filters `path[{operator}]=value` (this parameter's own name is not sent): "
                f"{meaning} the value, for numbers, dates and date-times. Several filters on "
                "one path are AND-ed.",
            )
        )
    return families
