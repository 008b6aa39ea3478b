"""Recognising schema files and translating Common Gateway's Entity dialect into JSON Schema 2020-12.

Translation is a pure function of the document: it returns a new schema and a list of warnings
(JSON pointer, message) for quirks that were repaired or ignored.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
CG_ENTITY = "https://docs.commongateway.nl/schemas/Entity.schema.json"

# Keywords the engine reads as annotations; jsonschema ignores them during validation.
GATEWAY_KEYWORDS = frozenset(
    {
        "inversedBy",
        "cascade",
        "cascadeDelete",
        "maxDepth",
        "immutable",
        "version",
        "indexes",
        "createAuditTrails",
    }
)
_CG_TYPE_MAP = {"datetime": ("string", "date-time"), "date": ("string", "date")}
_CG_FORMAT_MAP = {"datetime": "date-time", "url": "uri"}
_KNOWN_KEYWORDS = (
    frozenset(
        {
            "$schema",
            "$id",
            "$ref",
            "$defs",
            "$anchor",
            "$comment",
            "$dynamicRef",
            "$dynamicAnchor",
            "$vocabulary",
            "definitions",
            "title",
            "description",
            "default",
            "examples",
            "deprecated",
            "readOnly",
            "writeOnly",
            "type",
            "enum",
            "const",
            "format",
            "properties",
            "required",
            "additionalProperties",
            "patternProperties",
            "unevaluatedProperties",
            "propertyNames",
            "minProperties",
            "maxProperties",
            "dependentRequired",
            "dependentSchemas",
            "items",
            "prefixItems",
            "additionalItems",
            "contains",
            "minContains",
            "maxContains",
            "minItems",
            "maxItems",
            "uniqueItems",
            "unevaluatedItems",
            "minLength",
            "maxLength",
            "pattern",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "allOf",
            "anyOf",
            "oneOf",
            "not",
            "if",
            "then",
            "else",
            "contentEncoding",
            "contentMediaType",
            "contentSchema",
            "nullable",
        }
    )
    | GATEWAY_KEYWORDS
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_SINGLE = (
    "items",
    "additionalProperties",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "additionalItems",
    "unevaluatedItems",
)
_PARTIAL = ("not", "if", "then", "else")
_NON_SCHEMA_CG_TYPES = ("Mapping", "Collection", "Action", "Application", "Endpoint", "Source")

Warning = tuple[str, str]


def is_cg_entity(document: dict[str, Any]) -> bool:
    return document.get("$schema") == CG_ENTITY


def is_schema_document(document: object) -> bool:
    """A JSON Schema or a CG Entity; CG mappings, collections, actions and data files are not."""
    if not isinstance(document, dict):
        return False
    marker = document.get("$schema")
    if isinstance(marker, str):
        return marker == CG_ENTITY or "json-schema.org" in marker
    return document.get("type") == "object" and isinstance(document.get("properties"), dict)


def is_non_schema_cg_document(document: object) -> bool:
    marker = document.get("$schema") if isinstance(document, dict) else None
    return isinstance(marker, str) and any(
        marker.endswith(f"/{kind}.schema.json") or marker.endswith(f"/{kind}Entity.schema.json")
        for kind in _NON_SCHEMA_CG_TYPES
    )


def translate(document: dict[str, Any]) -> tuple[dict[str, Any], list[Warning]]:
    """Return the schema as standard JSON Schema plus the gateway's own conventions.

    Both dialects: object schemas with `properties` that do not say otherwise are closed
    (unknown properties rejected). CG dialect: the quirks listed in docs/schemas.md are repaired.
    """
    schema = copy.deepcopy(document)
    warnings: list[Warning] = []
    cg = is_cg_entity(schema)
    if cg:
        schema["$schema"] = DRAFT_2020_12
    _walk(schema, "", cg, warnings, root=True)
    return schema, warnings


def _walk(
    node: Any,
    pointer: str,
    cg: bool,
    warnings: list[Warning],
    root: bool = False,
    part: bool = False,
) -> None:
    """`part`: a member of allOf/anyOf/oneOf/if/then/else/not, which sees only part of the object
    and so is never closed (the whole object is closed, or not, where it is declared)."""
    if not isinstance(node, dict):
        return
    if cg:
        _repair_cg_node(node, pointer, warnings)
        # Before the children are walked: a child's own walk drops its boolean `required`.
        _collect_required(node, pointer, warnings)
    _warn_misspelled(node, pointer, warnings, root)
    for key in _SUBSCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                _walk(child, f"{pointer}/{key}/{_escape(name)}", cg, warnings)
    for key in _SUBSCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                _walk(child, f"{pointer}/{key}/{index}", cg, warnings, part=key != "prefixItems")
    for key in _SUBSCHEMA_SINGLE:
        if isinstance(node.get(key), dict):
            _walk(node[key], f"{pointer}/{key}", cg, warnings, part=key in _PARTIAL)
    if not part:
        _close_object(node)


def _repair_cg_node(node: dict[str, Any], pointer: str, warnings: list[Warning]) -> None:
    kind = node.get("type")
    if isinstance(kind, str) and kind in _CG_TYPE_MAP:
        node["type"], node["format"] = _CG_TYPE_MAP[kind]
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _CG_FORMAT_MAP:
        node["format"] = _CG_FORMAT_MAP[fmt]
    if node.get("enum") == []:
        del node["enum"]
        warnings.append((f"{pointer}/enum", "empty enum ignored (it would reject every value)"))
    # CG writes an array's item $ref under `properties` instead of `items`.
    props = node.get("properties")
    if node.get("type") == "array" and "items" not in node and isinstance(props, dict):
        ref = props.get("$ref")
        if isinstance(ref, str):
            node["items"] = {"$ref": ref}
            del node["properties"]
            warnings.append((f"{pointer}/properties", "array item $ref moved to items"))
    if "default" in node and isinstance(node["default"], str):
        node["default"] = _coerce_default(node["default"], node.get("type"), pointer, warnings)


def _coerce_default(value: str, kind: Any, pointer: str, warnings: list[Warning]) -> Any:
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            warnings.append((f"{pointer}/default", f"default {value!r} is not a {kind}"))
    return value


def _collect_required(node: dict[str, Any], pointer: str, warnings: list[Warning]) -> None:
    """Merge `"required": true` on properties into the object's list; drop names that are no property."""
    props = node.get("properties")
    if not isinstance(props, dict):
        if isinstance(node.get("required"), bool):
            del node["required"]
        return
    listed = node.get("required")
    required: list[str] = (
        [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    )
    for name, child in props.items():
        flagged = isinstance(child, dict) and isinstance(child.get("required"), bool)
        if flagged and child.pop("required") and name not in required:
            required.append(name)
    for name in [n for n in required if n not in props]:
        required.remove(name)
        warnings.append(
            (f"{pointer}/required", f"required name {name!r} is not a property: ignored")
        )
    if required:
        node["required"] = required
    elif "required" in node:
        del node["required"]


def _close_object(node: dict[str, Any]) -> None:
    """Reject unknown properties unless the schema says otherwise or composes subschemas."""
    if not isinstance(node.get("properties"), dict):
        return
    open_markers = (
        "additionalProperties",
        "unevaluatedProperties",
        "patternProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "$ref",
        "$dynamicRef",
    )
    if not any(marker in node for marker in open_markers):
        node["additionalProperties"] = False


def _warn_misspelled(
    node: dict[str, Any], pointer: str, warnings: list[Warning], root: bool
) -> None:
    for key in node:
        if key in _KNOWN_KEYWORDS or (root and key.startswith("x-")):
            continue
        close = difflib.get_close_matches(key, _KNOWN_KEYWORDS, n=1, cutoff=0.8)
        if close:
            warnings.append(
                (
                    f"{pointer}/{_escape(key)}",
                    f"unknown keyword {key!r} ignored; did you mean {close[0]!r}?",
                )
            )


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")
