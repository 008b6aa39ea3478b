"""Request variants of a plain JSON Schema (one without relations, such as a facade's shape):
what a POST/PUT body and a PATCH body must look like. The OpenAPI document describes these
variants, and the facade endpoints check bodies against the same ones, so what is documented is
what is accepted.

- output: as answers show it. A property may say how answers differ with `x-output` (keywords
  replaced; `null` removes one): objects written through other endpoints may hold values this
  shape would not take (a negative `nummer` shown as a klantnummer).
- input: the `readOnly` properties left out (a body may still carry them; they are ignored).
- patch (RFC 7396): nothing required at the top level; `null` removes an optional property; an
  object below it is merged into the stored one, which may be absent, so it is complete (its
  required properties required, `null` removing an optional one); an array replaces the stored
  one whole, so its elements are complete inputs. Defaults are left out: absent means unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

_META = ("$schema", "$id", "version", "title")
_LITERAL = ("enum", "const", "default", "examples", "example")
OUTPUT_KEYWORD = "x-output"


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or `null`, its description kept outside the `anyOf`."""
    inner = dict(schema)
    description = inner.pop("description", None)
    if "anyOf" in inner and len(inner) == 1:
        choices = [*inner["anyOf"], {"type": "null"}]
    else:
        choices = [inner, {"type": "null"}]
    result: dict[str, Any] = {"anyOf": choices}
    if isinstance(inner.get("format"), str):  # it constrains strings only: `null` still passes
        result["format"] = inner["format"]
    if description:
        result["description"] = description
    return result


def without_meta(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as a component: no `$schema`, `$id`, `title` or CG's `version`."""
    return {k: copy.deepcopy(v) for k, v in schema.items() if k not in _META}


def output_variant(node: Any) -> Any:
    if isinstance(node, list):
        return [output_variant(child) for child in node]
    if not isinstance(node, dict):
        return node
    result = {
        key: copy.deepcopy(value) if key in _LITERAL else output_variant(value)
        for key, value in node.items()
        if key != OUTPUT_KEYWORD
    }
    for key, value in (node.get(OUTPUT_KEYWORD) or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return result


def input_variant(node: Any) -> Any:
    if isinstance(node, list):
        return [input_variant(child) for child in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    properties = node.get("properties")
    writable = (
        {n for n, sub in properties.items() if not (isinstance(sub, dict) and sub.get("readOnly"))}
        if isinstance(properties, dict)
        else None
    )
    for key, value in node.items():
        if key in ("readOnly", OUTPUT_KEYWORD):
            continue
        if key == "properties" and writable is not None:
            result[key] = {n: input_variant(s) for n, s in value.items() if n in writable}
        elif key == "required" and writable is not None and isinstance(value, list):
            result[key] = [name for name in value if name in writable]
        elif key in _LITERAL:
            result[key] = copy.deepcopy(value)
        else:
            result[key] = input_variant(value)
    if result.get("required") == []:
        del result["required"]
    return result


def patch_variant(schema: dict[str, Any]) -> dict[str, Any]:
    return _merged(input_variant(schema), partial=True)


def _merged(node: dict[str, Any], partial: bool) -> dict[str, Any]:
    result = {k: v for k, v in node.items() if k not in ("default", "required")}
    listed = node.get("required")
    required: list[Any] = listed if isinstance(listed, list) else []
    if required and not partial:
        result["required"] = list(required)
    properties = node.get("properties")
    if isinstance(properties, dict):
        merged: dict[str, Any] = {}
        for name, sub in properties.items():
            value = _below(sub) if isinstance(sub, dict) else sub
            merged[name] = value if name in required else nullable(value)
        result["properties"] = merged
    return result


def _below(node: dict[str, Any]) -> dict[str, Any]:
    """A property's schema inside a patch: objects merged, anything else as in the input."""
    if isinstance(node.get("properties"), dict):
        return _merged(node, partial=False)
    return {k: v for k, v in node.items() if k != "default"}


_ORDER = "_order["
_DIRECTIONS: dict[str, Any] = {"type": "string", "enum": ["asc", "desc"]}


def property_at(schema: Any, path: str) -> dict[str, Any] | None:
    """The schema of a dotted path (through objects and arrays), if the schema declares one."""
    node = schema
    for part in path.split("."):
        while isinstance(node, dict) and node.get("type") == "array":
            node = node.get("items")
        properties = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        node = properties[part]
    return node if isinstance(node, dict) else None


def _query_value(node: dict[str, Any] | None) -> dict[str, Any]:
    """A query value's schema from a property's: its constraints, one non-null type, as text."""
    if node is None:
        return {"type": "string"}
    choices = node.get("anyOf")
    if isinstance(choices, list) and choices:  # a reference: an id or a URL
        texts = [_query_value(c) for c in choices if isinstance(c, dict)]
        return (
            {"anyOf": texts} if all(t != {"type": "string"} for t in texts) else {"type": "string"}
        )
    kept = {k: v for k, v in node.items() if k in ("type", "pattern", "enum", "format")}
    kinds = kept.get("type")
    if isinstance(kinds, list):
        kept["type"] = next((k for k in kinds if k != "null"), "string")
    if kept.get("type") != "string":
        return {"type": "string"}
    return kept


def query_schema(schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The query parameters `names` (a facade's, such as `embedded.emails.email[like]` or
    `_order[achternaam]`) as one object: each typed by the property of its path (an operator in
    brackets: text; `_order[...]`: asc or desc)."""
    properties: dict[str, Any] = {}
    for name in names:
        if name.startswith(_ORDER) and name.endswith("]"):
            properties[name] = _DIRECTIONS
            continue
        path, bracket, _ = name.partition("[")
        properties[name] = (
            {"type": "string"} if bracket else _query_value(property_at(schema, path))
        )
    return {"type": "object", "properties": properties, "additionalProperties": False}
