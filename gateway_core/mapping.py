"""Mappings (Common Gateway's Mapping format) run in a sandboxed Jinja2 environment
(docs/mappings.md). Jinja2 is imported here only.

    {"$id": "...", "title": "...", "passTrough": false,
     "mapping": {"<target dot-path>": "<source dot-path, or a template>", ...},
     "unset": ["<dot-path>", ...],
     "cast": {"<target dot-path>": "<cast>" | ["<cast>", ...]}}

For each rule, in order: when the value names a path that exists in the input, the target gets the
value found there (any type); otherwise the value is rendered as a template with the input as its
variables (a plain word renders as itself) and the target gets the text. Then `unset` removes
paths and `cast` converts, in the order listed. A target `#` replaces the whole result. A dot
inside a key is written `&#46;` (query parameters such as `a.b[like]`).

Templates use Twig's syntax where Jinja2 shares it (`{% if %}`, `{{ x|default('y') }}`, `~`);
`{% elseif %}` is read as Jinja's `{% elif %}`. Added: `map(ref, value, list=false)`,
`|json_encode`, `|merge`, `attribute(object, key)`, `_context` (the whole input), and Twig's
`default`, which also replaces null and empty values. Templates run sandboxed: no attribute of a
Python object beyond the data, no imports, bounded ranges.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gateway_core.errors import GatewayError, SchemaError
from gateway_core.schemas.registry import read_json

ESCAPED_DOT = "&#46;"
MAX_DEPTH = 10  # `map()` calls nested inside each other
_IF_VALUE = re.compile(r"^(unsetIfValue|setNullIfValue)==(.*)$", re.DOTALL)
SIMPLE_CASTS = {
    "int", "integer", "bool", "boolean", "string", "float", "number", "array", "json",
    "jsonToArray", "nullStringToNull", "keyCantBeValue", "base64", "base64ToString",
    "html", "htmlDecode", "trim",
}  # fmt: skip


class MappingError(GatewayError):
    """A mapping that could not be applied: names the mapping and the target path."""

    def __init__(self, mapping: str, target: str, reason: str) -> None:
        self.mapping = mapping
        self.target = target
        self.reason = reason
        super().__init__(f"mapping {mapping} at {target!r}: {reason}")


def _parts(path: str) -> list[str]:
    return [part.replace(ESCAPED_DOT, ".") for part in path.split(".")]


_MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """The value at a dot-path (list indexes as numbers), or _MISSING."""
    value = data
    for part in _parts(path):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = _parts(path)
    node: Any = data
    for part, following in zip(parts, [*parts[1:], None], strict=True):
        last = following is None
        fresh: Any = [] if following is not None and following.isdigit() else {}
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            while len(node) <= index:
                node.append(None)
            if last:
                node[index] = value
            else:
                if not isinstance(node[index], dict | list):
                    node[index] = fresh
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), dict | list):
                    node[part] = fresh
                node = node[part]
        else:
            return


def unset_path(data: Any, path: str) -> None:
    parts = _parts(path)
    parent = (
        get_path(data, ".".join(p.replace(".", ESCAPED_DOT) for p in parts[:-1]))
        if len(parts) > 1
        else data
    )
    key = parts[-1]
    if isinstance(parent, dict):
        parent.pop(key, None)
    elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        del parent[int(key)]


def _attribute(holder: Any, key: str) -> Any:
    """Twig's attribute(): a key that may hold dots (`&#46;`), None when absent."""
    found = get_path(holder, key) if isinstance(holder, dict | list) else _MISSING
    return None if found is _MISSING else found


def _twig_default(value: Any, fallback: Any = "") -> Any:
    if value is None or isinstance(value, ChainableUndefined) or value in ("", [], {}):
        return fallback
    return value


def _merge(left: Any, right: Any) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        return {**left, **right}
    return [*(left or []), *(right or [])]


def _json(value: Any) -> str:
    if isinstance(value, ChainableUndefined):
        value = None
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Rule:
    target: str
    value: str
    template: Any = field(compare=False)  # a compiled jinja2 Template, None when it is broken
    broken: str | None = None  # why the template cannot run (Twig that Jinja2 does not read)


@dataclass(frozen=True)
class MappingSpec:
    id: str
    title: str
    source: str
    pass_through: bool
    rules: tuple[Rule, ...]
    unset: tuple[str, ...]
    casts: tuple[tuple[str, tuple[str, ...]], ...]

    def simple_rules(self) -> dict[str, str]:
        """Target -> source for the rules that copy a path (for naming errors in the source's
        terms): values that are dot-paths, not templates."""
        return {r.target: r.value for r in self.rules if re.fullmatch(r"[\w&#;.-]+", r.value)}


class Mappings:
    """The loaded mappings by `$id`, and the sandbox that runs them."""

    def __init__(self, variables: Mapping[str, Any] | None = None) -> None:
        self.variables = dict(variables or {})  # offered to every template (e.g. base_path)
        self.environment = ImmutableSandboxedEnvironment(
            undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=False
        )
        self.environment.filters.update(
            default=_twig_default, json_encode=_json, merge=_merge, d=_twig_default
        )
        self.environment.globals.update(attribute=_attribute)
        self.by_id: dict[str, MappingSpec] = {}
        # (file, pointer, message): what cannot run, reported at start-up; using it answers 500
        self.warnings: list[tuple[str, str, str]] = []

    # -- loading --------------------------------------------------------------------------------

    def load_folder(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.json")):
            spec = self.read(path)
            self.by_id[spec.id] = spec

    def read(self, path: Path) -> MappingSpec:
        source = str(path)
        document = read_json(path)
        if not isinstance(document, dict):
            raise SchemaError(source, "/", "a mapping must be a JSON object")
        rules_in = document.get("mapping", {})
        if not isinstance(rules_in, dict):
            raise SchemaError(source, "/mapping", "must map target paths to sources or templates")
        rules = []
        for target, value in rules_in.items():
            if not isinstance(value, str):
                raise SchemaError(source, f"/mapping/{target}", "must be a string")
            try:
                template = self.environment.from_string(value.replace("{% elseif", "{% elif"))
            except TemplateError as error:
                # A CG bundle's Twig (arrow functions, ...) loads unchanged, reported as broken.
                reason = f"not a template Jinja2 runs: {error}"
                self.warnings.append((source, f"/mapping/{target}", reason))
                rules.append(Rule(target, value, None, reason))
                continue
            rules.append(Rule(target, value, template))
        unset = document.get("unset") or []
        if not isinstance(unset, list) or not all(isinstance(u, str) for u in unset):
            raise SchemaError(source, "/unset", "must be a list of paths")
        casts: list[tuple[str, tuple[str, ...]]] = []
        for target, cast in (document.get("cast") or {}).items():
            names = (
                (cast,)
                if isinstance(cast, str)
                else tuple(cast)
                if isinstance(cast, list)
                else None
            )
            if not names or not all(
                isinstance(n, str) and (n in SIMPLE_CASTS or _IF_VALUE.match(n)) for n in names
            ):
                known = ", ".join(sorted(SIMPLE_CASTS)) + ", unsetIfValue==X, setNullIfValue==X"
                raise SchemaError(
                    source, f"/cast/{target}", f"unknown cast {cast!r} (known: {known})"
                )
            casts.append((target, names))
        spec_id = document.get("$id")
        if not isinstance(spec_id, str) or not spec_id:
            raise SchemaError(source, "/$id", "a mapping needs a $id")
        return MappingSpec(
            id=spec_id,
            title=str(document.get("title") or path.stem),
            source=source,
            pass_through=document.get("passTrough", False) is True,
            rules=tuple(rules),
            unset=tuple(unset),
            casts=tuple(casts),
        )

    def check_references(self) -> None:
        """Report every `map('<ref>', ...)` whose literal reference names no loaded mapping."""
        for spec in self.by_id.values():
            for rule in spec.rules:
                if rule.broken:
                    continue
                source = rule.value.replace("{% elseif", "{% elif")
                for call in self.environment.parse(source).find_all(nodes.Call):
                    if isinstance(call.node, nodes.Name) and call.node.name == "map" and call.args:
                        first = call.args[0]
                        if isinstance(first, nodes.Const) and first.value not in self.by_id:
                            message = f"map() refers to the unknown mapping {first.value!r}"
                            self.warnings.append((spec.source, f"/mapping/{rule.target}", message))

    def get(self, reference: str) -> MappingSpec:
        spec = self.by_id.get(reference)
        if spec is None:
            raise MappingError(reference, "", "no mapping has this $id")
        return spec

    # -- applying -------------------------------------------------------------------------------

    def apply(self, reference: str, data: Any, depth: int = 0) -> Any:
        """The mapped result of `data` (the input is not changed)."""
        spec = self.get(reference)
        if depth > MAX_DEPTH:
            raise MappingError(spec.id, "", f"map() nested more than {MAX_DEPTH} deep")
        source = data if isinstance(data, dict) else {}
        result: dict[str, Any] = json.loads(json.dumps(source)) if spec.pass_through else {}
        for rule in spec.rules:
            found = get_path(source, rule.value)
            if found is not _MISSING:
                value = json.loads(json.dumps(found))
            else:
                value = self._render(spec, rule, source, depth)
            set_path(result, rule.target, value)
        for path in spec.unset:
            unset_path(result, path)
        for target, names in spec.casts:
            for name in names:
                self._cast(spec, result, target, name)
        if "#" in {rule.target for rule in spec.rules} and "#" in result:
            return result["#"]
        return result

    def _render(self, spec: MappingSpec, rule: Rule, source: dict[str, Any], depth: int) -> str:
        if rule.broken:
            raise MappingError(spec.id, rule.target, rule.broken)

        def map_call(reference: str, value: Any, as_list: bool = False) -> Any:
            if isinstance(value, ChainableUndefined) or value is None:
                return [] if as_list else {}
            if as_list:
                if not isinstance(value, list):
                    raise MappingError(
                        spec.id, rule.target, f"map({reference!r}, ..., true) needs a list"
                    )
                return [self.apply(reference, element, depth + 1) for element in value]
            return self.apply(reference, value, depth + 1)

        try:
            context = {**self.variables, **source, "_context": source, "map": map_call}
            text: str = rule.template.render(context)
            return text
        except MappingError:
            raise
        except Exception as error:  # whatever a template does wrong, the answer names it
            raise MappingError(spec.id, rule.target, f"{type(error).__name__}: {error}") from None

    def _cast(self, spec: MappingSpec, result: dict[str, Any], target: str, name: str) -> None:
        value = get_path(result, target)
        if value is _MISSING:
            return
        conditional = _IF_VALUE.match(name)
        if conditional:
            kind, expected = conditional.groups()
            equal = value == expected or (expected == "" and value in (None, "", [], {}))
            if equal and kind == "unsetIfValue":
                unset_path(result, target)
            elif equal:
                set_path(result, target, None)
            return
        if name == "keyCantBeValue":
            if value == _parts(target)[-1]:
                unset_path(result, target)
            return
        try:
            converted = CASTS[name](value)
        except (ValueError, TypeError, json.JSONDecodeError) as error:
            if name == "jsonToArray":
                raise MappingError(spec.id, target, f"jsonToArray: not JSON ({error})") from None
            return  # left as it is: validation names it, in the terms of the input
        set_path(result, target, converted)


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "ja", "on"):
        return True
    if text in ("false", "0", "no", "nee", "off", "", "none", "null"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_INT64 = 2**63  # what JSON stores and PostgreSQL's bigint hold


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    text = str(value).strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        number = int(text)  # exactly: a float would round a long number
    else:
        real = float(value)
        if not real.is_integer():
            raise ValueError(f"not a whole number: {value!r}")
        number = int(real)
    if not -_INT64 <= number < _INT64:
        raise ValueError(f"{text[:30]!r} is out of the range of a 64-bit whole number")
    return number


def _to_string(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


CASTS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "integer": _to_int,
    "bool": _to_bool,
    "boolean": _to_bool,
    "string": _to_string,
    "float": lambda v: float(v),
    "number": lambda v: float(v),
    "array": lambda v: v if isinstance(v, list) else ([] if v in (None, "") else [v]),
    "json": lambda v: json.dumps(v, ensure_ascii=False),
    "jsonToArray": lambda v: json.loads(v) if isinstance(v, str) else v,
    "nullStringToNull": lambda v: None if v == "null" else v,
    "base64": lambda v: base64.b64encode(str(v).encode()).decode(),
    "base64ToString": lambda v: base64.b64decode(str(v)).decode(),
    "html": lambda v: html.escape(str(v)),
    "htmlDecode": lambda v: html.unescape(str(v)),
    "trim": lambda v: v.strip() if isinstance(v, str) else v,
}


def load_mappings(folders: Sequence[Path], variables: Mapping[str, Any] | None = None) -> Mappings:
    """Every mapping file of the folders, checked (templates compile, casts exist, `map()`
    references resolve); SchemaError names the file and the target otherwise."""
    mappings = Mappings(variables)
    for folder in folders:
        mappings.load_folder(folder)
    mappings.check_references()
    return mappings


def query_in(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters as a mapping's input: name -> value (a list when repeated)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            found[key] = [*(found[key] if isinstance(found[key], list) else [found[key]]), value]
        else:
            found[key] = value
    return found


def query_out(mapped: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A mapped query back to parameters; nested objects become `a.b` names (and `_order[a.b]`)."""
    pairs: list[tuple[str, str]] = []
    _query_pairs(dict(mapped), "", pairs)
    return pairs


def _query_pairs(value: Any, name: str, pairs: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if name == "_order":
                _query_pairs(child, f"_order[{key}]", pairs)
            else:
                _query_pairs(child, f"{name}.{key}" if name else key, pairs)
    elif isinstance(value, list):
        for element in value:
            _query_pairs(element, name, pairs)
    elif value is not None:
        pairs.append((name, value if isinstance(value, str) else _to_string(value)))
