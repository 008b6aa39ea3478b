"""Reading JSON documents by dotted path, the way the query language reads them: an array met on
the way is crossed (every element), an array at the end gives its elements."""

from __future__ import annotations

from typing import Any


def values_at(data: Any, path: str) -> list[Any]:
    """Every non-null value at the dotted `path` in `data`, arrays crossed and flattened."""
    values = [data]
    for part in path.split("."):
        values = [
            child
            for value in values
            for element in (value if isinstance(value, list) else [value])
            if isinstance(element, dict) and (child := element.get(part)) is not None
        ]
    return [
        v
        for value in values
        for v in (value if isinstance(value, list) else [value])
        if v is not None
    ]
