"""Validating documents against an objecttype: every error at once, as dotted-path invalid params.

Besides JSON Schema validation this applies `default`s and enforces the gateway keywords
`readOnly` (not writable by clients) and `immutable` (not changeable after creation).

jsonschema (Python) is the authority and explains every error. jsonschema-rs, when installed,
answers the common case ("is this valid?") about 80 times faster with the same schemas, registry
and format checks; only a document it finds invalid is explained by jsonschema, and a document is
rejected only when jsonschema finds an error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import Draft202012Validator, validator_for

from gateway_core.documents import copy_document
from gateway_core.errors import InvalidParam
from gateway_core.schemas.formats import describe, format_checker, format_functions
from gateway_core.schemas.registry import ObjectType, SchemaSet

_MISSING = object()


def dotted(path: Iterator[Any] | list[Any] | tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def _fast_validators(schemas: SchemaSet) -> dict[str, Callable[[Any], bool]]:
    """`is_valid` of jsonschema-rs per objecttype; empty when jsonschema-rs is not installed."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - optional speed-up
        return {}
    registry = jsonschema_rs.Registry([(t.id, t.schema) for t in schemas.types.values()])
    formats = format_functions()
    fast: dict[str, Callable[[Any], bool]] = {}
    for object_type in schemas.types.values():
        try:
            compiled = jsonschema_rs.validator_for(
                object_type.schema, registry=registry, formats=formats, validate_formats=True
            )
        except Exception:
            continue
        fast[object_type.id] = compiled.is_valid
    return fast


def validators_for(schemas: SchemaSet) -> dict[str, ObjectValidator]:
    """One compiled validator per objecttype of the set."""
    fast = _fast_validators(schemas)
    return {sid: ObjectValidator(schemas, t, fast.get(sid)) for sid, t in schemas.types.items()}


class ObjectValidator:
    """Compiled once per objecttype; `check` returns every problem of a document."""

    def __init__(
        self, schemas: SchemaSet, object_type: ObjectType, fast: Callable[[Any], bool] | None = None
    ) -> None:
        self._schemas = schemas
        self.object_type = object_type
        cls = validator_for(object_type.schema, default=Draft202012Validator)
        self._validator: Validator = cls(
            object_type.schema, registry=schemas.registry, format_checker=format_checker()
        )
        self._fast = fast
        self._property_cache: dict[tuple[int, str], list[tuple[str, dict[str, Any], str]]] = {}
        keywords, self._reaching_defaults = self._reachable_keywords()
        self._has_write_rules = bool(keywords & {"readOnly", "immutable"})

    def _reachable_keywords(self) -> tuple[set[str], set[tuple[int, str]]]:
        """Which of default/readOnly/immutable occur in any property schema reachable from the root,
        and the schema nodes (schema object, base) with a `default` at or below them."""
        found: set[str] = set()
        children: dict[tuple[int, str], list[tuple[int, str]]] = {}
        with_default: set[tuple[int, str]] = set()
        pending = [(self.object_type.schema, self.object_type.id)]
        while pending:
            schema, base = pending.pop()
            key = (id(schema), base)
            if key in children:
                continue
            below = children[key] = []
            items = self._items(schema, base)
            if items is not None:
                pending.append(items)
                below.append((id(items[0]), items[1]))
            for _, sub, sub_base in self._properties(schema, base):
                found.update(k for k in ("default", "readOnly", "immutable") if k in sub)
                if "default" in sub:
                    with_default.add(key)
                pending.append((sub, sub_base))
                below.append((id(sub), sub_base))
        return found, _reaching(with_default, children)

    # -- the walk over properties shared by defaults, readOnly and immutable -----------------

    def _properties(
        self, schema: dict[str, Any], base: str, depth: int = 0
    ) -> list[tuple[str, dict[str, Any], str]]:
        """(name, subschema, base id) for each property the schema declares, through `$ref` and allOf.
        Schemas never change after loading, so the answer is cached by the schema object."""
        key = (id(schema), base)
        cached = self._property_cache.get(key)
        if cached is None:
            cached = self._property_cache[key] = self._collect_properties(schema, base, depth)
        return cached

    def _collect_properties(
        self, schema: dict[str, Any], base: str, depth: int
    ) -> list[tuple[str, dict[str, Any], str]]:
        found: list[tuple[str, dict[str, Any], str]] = []
        if depth > 16:
            return found
        props = schema.get("properties")
        if isinstance(props, dict):
            found.extend((name, sub, base) for name, sub in props.items() if isinstance(sub, dict))
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target, holder = self._schemas.resolve(ref, base)
            found.extend(self._properties(target, holder, depth + 1))
        for member in schema.get("allOf", []) if isinstance(schema.get("allOf"), list) else []:
            if isinstance(member, dict):
                found.extend(self._properties(member, base, depth + 1))
        return found

    def _items(self, schema: dict[str, Any], base: str) -> tuple[dict[str, Any], str] | None:
        items = schema.get("items")
        if isinstance(items, dict):
            return items, base
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target, holder = self._schemas.resolve(ref, base)
            return self._items(target, holder)
        return None

    def _walk(
        self, schema: dict[str, Any], base: str, value: Any, path: tuple[Any, ...]
    ) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any], str, dict[str, Any]]]:
        """Yield (path, name, property schema, base, parent object) for every declared property
        of every object in `value`, depth first."""
        if isinstance(value, dict):
            for name, sub, sub_base in self._properties(schema, base):
                yield path, name, sub, sub_base, value
                if name in value:
                    yield from self._walk(sub, sub_base, value[name], (*path, name))
        elif isinstance(value, list):
            items = self._items(schema, base)
            if items is not None:
                for index, element in enumerate(value):
                    yield from self._walk(items[0], items[1], element, (*path, index))

    # -- public API -------------------------------------------------------------------------

    def with_defaults(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with `default`s filled in: a copy when one is missing, else the document
        itself (never changed)."""
        root = (self.object_type.schema, self.object_type.id)
        if not any(name not in parent for name, _, parent in self._default_sites(*root, document)):
            return document
        result: dict[str, Any] = copy_document(document)
        for name, sub, parent in self._default_sites(*root, result):
            if name not in parent:
                parent[name] = copy.deepcopy(sub["default"])
        return result

    def _default_sites(
        self, schema: dict[str, Any], base: str, value: Any
    ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(name, property schema, parent object) of every property with a `default` in `value`,
        looking only into the parts of the schema where a default can be (`_reaching_defaults`)."""
        if (id(schema), base) not in self._reaching_defaults:
            return
        if isinstance(value, dict):
            for name, sub, sub_base in self._properties(schema, base):
                if "default" in sub:
                    yield name, sub, value
                if name in value:
                    yield from self._default_sites(sub, sub_base, value[name])
        elif isinstance(value, list):
            items = self._items(schema, base)
            if items is not None:
                for element in value:
                    yield from self._default_sites(items[0], items[1], element)

    def write_violations(
        self, document: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[InvalidParam]:
        """`readOnly` values a client tries to set or change, `immutable` values it tries to change."""
        problems: list[InvalidParam] = []
        if not self._has_write_rules:
            return problems
        for path, name, sub, _, parent in self._walk(
            self.object_type.schema, self.object_type.id, document, ()
        ):
            old = _lookup(previous, (*path, name)) if previous is not None else _MISSING
            new = parent.get(name, _MISSING)
            field_name = dotted((*path, name))
            if sub.get("readOnly") is True and new is not _MISSING and new != old:
                problems.append(
                    InvalidParam(field_name, "readOnly", "is read-only and cannot be written")
                )
            elif sub.get("immutable") is True and old is not _MISSING and new != old:
                problems.append(
                    InvalidParam(field_name, "immutable", "cannot be changed after creation")
                )
        return problems

    def schema_errors(self, document: dict[str, Any]) -> list[InvalidParam]:
        problems: list[InvalidParam] = []
        if self._fast is not None and self._fast(document):
            return problems
        for error in self._validator.iter_errors(document):
            problems.extend(_to_params(error))
        return problems

    def check(
        self, document: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> list[InvalidParam]:
        problems = self.write_violations(document, previous) + self.schema_errors(document)
        unique = {(p.name, p.code, p.reason): p for p in problems}
        return sorted(unique.values(), key=lambda p: (p.name, p.code))


def _reaching(
    targets: set[tuple[int, str]], children: dict[tuple[int, str], list[tuple[int, str]]]
) -> set[tuple[int, str]]:
    """The nodes from which one of `targets` can be reached (recursive schemas are cycles)."""
    reaching = set(targets)
    grown = True
    while grown:
        grown = False
        for node, below in children.items():
            if node not in reaching and any(child in reaching for child in below):
                reaching.add(node)
                grown = True
    return reaching


def _lookup(document: Any, path: tuple[Any, ...]) -> Any:
    current = document
    for part in path:
        in_object = isinstance(current, dict) and isinstance(part, str) and part in current
        in_array = isinstance(current, list) and isinstance(part, int) and part < len(current)
        if not (in_object or in_array):
            return _MISSING
        current = current[part]
    return current


def _to_params(error: ValidationError) -> list[InvalidParam]:
    base = list(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.validator_value
    if keyword == "required":
        names = [n for n in value if repr(n) in error.message] or ["?"]
        return [InvalidParam(dotted([*base, n]), "required", "is required") for n in names[:1]]
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        schema = error.schema if isinstance(error.schema, dict) else {}
        declared = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [
            key
            for key in error.instance
            if key not in declared
            and not any(re.search(pattern, key) for pattern in patterns)
            # unevaluatedProperties: properties of subschemas (allOf, ...) count as declared too
            and (keyword == "additionalProperties" or repr(key) in error.message)
        ]
        return [
            InvalidParam(
                dotted([*base, key]), "additionalProperties", "is not a property of this object"
            )
            for key in extras
        ]
    if keyword == "format":
        explained = describe(str(value))
        reason = f"must be {explained}" if explained else error.message
        return [InvalidParam(dotted(base), "format", reason)]
    if keyword == "enum":
        allowed = ", ".join(repr(v) for v in value)
        return [InvalidParam(dotted(base), "enum", f"must be one of {allowed}")]
    return [InvalidParam(dotted(base), keyword, error.message)]


def schema_checker(schema: dict[str, Any]) -> Callable[[Any], list[InvalidParam]]:
    """Every problem of a document against a self-contained JSON Schema (a facade's shape)."""
    validator = Draft202012Validator(schema, format_checker=format_checker())

    def check(document: Any) -> list[InvalidParam]:
        return [param for error in validator.iter_errors(document) for param in _to_params(error)]

    return check
