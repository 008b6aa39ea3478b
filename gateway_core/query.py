"""The query language: query strings -> a backend-neutral list query.

A `ListQuery` holds filter conditions (all must hold), an optional text search, the ordering,
the page window and a projection. Parsing is typed by the objecttype's schema paths: a filter on
a path the schema does not have, an unknown operator, an invalid regex or a value that does not
fit the path's type is a 400 naming the parameter. docs/query-language.md is the user's guide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote_plus

from gateway_core.errors import BadRequest, InvalidParam
from gateway_core.linear_regex import compile_linear
from gateway_core.schemas.formats import parse_date_time
from gateway_core.schemas.paths import PathInfo

METADATA_PATHS = {
    "id": PathInfo("id", frozenset({"string"}), "uuid", False),
    "_self.dateCreated": PathInfo("_self.dateCreated", frozenset({"string"}), "date-time", False),
    "_self.dateModified": PathInfo("_self.dateModified", frozenset({"string"}), "date-time", False),
    "_self.owner": PathInfo("_self.owner", frozenset({"string"}), None, False),
    "_self.version": PathInfo("_self.version", frozenset({"integer"}), None, False),
}

# Operator names in `path[operator]=value` -> (canonical operator, kind override or None).
OPERATORS: dict[str, tuple[str, str | None]] = {
    "exact": ("exact", None),
    "case_sensitive": ("exact", None),
    "case_insensitive": ("eq", None),
    "like": ("like", None),
    "regex": ("regex", None),
    ">=": ("gte", None),
    ">": ("gt", None),
    "<=": ("lte", None),
    "<": ("lt", None),
    "after": ("gte", None),
    "strictly_after": ("gt", None),
    "before": ("lte", None),
    "strictly_before": ("lt", None),
    "ne": ("ne", None),
    "int_compare": ("eq", "number"),
    "bool_compare": ("eq", "boolean"),
}
_DATE_ONLY_OPERATORS = {"after", "strictly_after", "before", "strictly_before"}
_TEXT_OPERATORS = {"like", "regex", "contains"}
_ORDERING_OPERATORS = {"gte", "gt", "lte", "lt"}
_NULL_VALUES = {"is null": "is_null", "is not null": "is_not_null"}
# Bounds that keep every count of the list envelope a 64-bit integer (JSON encoders and SQL need it).
MAX_PAGE = 2**31 - 1
MAX_OFFSET = 2**53 - 1
# Reserved parameters; the names without the underscore are aliases unless the schema has such a property.
RESERVED = ("limit", "page", "start", "offset", "order", "search", "fields", "extend")
_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<inner>[^\[\]]*)\])?(?P<list>\[\])?$")


@dataclass(frozen=True)
class Condition:
    """`path` compared with `operator` to `value`; a path through arrays matches when any element does.

    Canonical operators: eq (strings case-insensitive whole value), exact, like (case-insensitive
    contains), contains (case-sensitive), regex (case-sensitive search), gt/gte/lt/lte (by
    `kind`), ne (no value equals; true when absent), in (`value` is a tuple; equality with any),
    is_null / is_not_null (`value` None). `kind` is the comparison type: string, number, boolean,
    date-time or date; typed values are int/float, bool, aware datetime or date.
    """

    path: str
    operator: str
    value: Any
    kind: str
    parameter: str
    arrays: tuple[str, ...] = ()  # the prefixes of `path` (itself included) whose values are arrays


@dataclass(frozen=True)
class RelatedCondition:
    """`condition` holds on a related object referenced at `path` (a join, resolved before storage:
    the service replaces it by an `in` condition on the matching related ids)."""

    path: str
    target: str
    condition: Condition | RelatedCondition
    arrays: tuple[str, ...]
    parameter: str


@dataclass(frozen=True)
class Order:
    """Sort by the first value at `path`; objects without one come last in either direction."""

    path: str
    descending: bool
    kind: str
    arrays: tuple[str, ...] = ()


@dataclass(frozen=True)
class Search:
    """Case-insensitive literal "contains" over string values (all of them, or under `paths`)."""

    term: str
    paths: tuple[str, ...] | None


@dataclass(frozen=True)
class ListQuery:
    conditions: tuple[Condition | RelatedCondition, ...] = ()
    search: Search | None = None
    order: tuple[Order, ...] = ()
    limit: int = 30
    offset: int = 0
    fields: tuple[str, ...] | None = None
    extend: tuple[str, ...] = ()

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1


def _bad(parameter: str, code: str, reason: str) -> BadRequest:
    return BadRequest(
        f"Query parameter {parameter!r} {reason}.",
        invalid_params=[InvalidParam(parameter, code, reason)],
    )


def _parse_moment(raw: str) -> datetime | None:
    """A filter value for a date-time: with or without time zone (UTC assumed), or a plain date."""
    moment = parse_date_time(raw)
    if moment is not None:
        return moment
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def typed_value(raw: str, kind: str, parameter: str) -> Any:
    """The query-string text read as a value of `kind`."""
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise _bad(parameter, "type", f"must be a number, got {raw!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _bad(parameter, "type", f"must be a finite number, got {raw!r}")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "boolean":
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _bad(parameter, "type", f"must be true or false, got {raw!r}")
        return lowered in ("true", "1")
    if kind == "date-time":
        moment = _parse_moment(raw)
        if moment is None:
            raise _bad(
                parameter, "format", f"must be a date-time (ISO 8601) or a date, got {raw!r}"
            )
        return moment
    if kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _bad(parameter, "format", f"must be a date as YYYY-MM-DD, got {raw!r}") from None
    return raw


def _whole_number(raw: str, parameter: str, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise _bad(parameter, "type", f"must be a whole number, got {raw!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise _bad(parameter, "range", f"must be at least {minimum}{upper}, got {number}")
    return number


def _path_list(raw_values: list[str], inner: str | None) -> list[str]:
    """`_fields=a,b&_fields[]=c` and `_search[a,b]` style lists."""
    parts = [inner] if inner else []
    parts += raw_values
    return [item.strip() for part in parts for item in part.split(",") if item.strip()]


PathLookup = Callable[[str], Mapping[str, PathInfo]]


def arrays_of(path: str, paths: Mapping[str, PathInfo]) -> tuple[str, ...]:
    """The prefixes of `path` (itself included) whose values are arrays."""
    info = paths.get(path)
    if info is not None:
        return info.array_prefixes  # known since the schema was read (schema_paths)
    parts = path.split(".")
    prefixes = (".".join(parts[: index + 1]) for index in range(len(parts)))
    return tuple(p for p in prefixes if (info := paths.get(p)) is not None and info.is_array)


class _Parser:
    def __init__(
        self,
        paths: Mapping[str, PathInfo],
        default_limit: int,
        max_limit: int,
        lookup: PathLookup | None = None,
    ) -> None:
        self.paths = paths
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.lookup = lookup

    def info(self, path: str, parameter: str) -> PathInfo:
        info = METADATA_PATHS.get(path) or self.paths.get(path)
        if info is None:
            raise _bad(
                parameter, "unknownPath", f"names no property path of this objecttype ({path!r})"
            )
        return info

    def arrays(self, path: str) -> tuple[str, ...]:
        return arrays_of(path, self.paths)

    def related(
        self,
        key: str,
        path: str,
        inner: str | None,
        as_list: bool,
        raw: str | list[str],
        depth: int,
    ) -> RelatedCondition | None:
        """`relation.rest` where `relation` is a reference path: a condition on the related objects."""
        if self.lookup is None or depth > 4:
            return None
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            info = self.paths.get(".".join(parts[:cut]))
            if info is not None and info.relation is not None:
                prefix, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
                parser = _Parser(
                    self.lookup(info.relation), self.default_limit, self.max_limit, self.lookup
                )
                condition = parser.condition(key, rest, inner, as_list, raw, depth + 1)
                return RelatedCondition(prefix, info.relation, condition, self.arrays(prefix), key)
        return None

    def reserved_name(self, name: str) -> str | None:
        if name in METADATA_PATHS:  # `_self.dateCreated` is a filter, not a reserved parameter
            return None
        if name.startswith("_"):
            return name[1:]
        if name in RESERVED and name not in self.paths:
            return name
        return None

    def condition(
        self,
        key: str,
        path: str,
        inner: str | None,
        as_list: bool,
        raw: str | list[str],
        depth: int = 0,
    ) -> Condition | RelatedCondition:
        if path not in self.paths and path not in METADATA_PATHS:
            joined = self.related(key, path, inner, as_list, raw, depth)
            if joined is not None:
                return joined
        info = self.info(path, key)
        kind = info.scalar_type
        arrays = self.arrays(path)
        if as_list:
            values = raw if isinstance(raw, list) else [raw]
            self.comparable(info, key)
            return Condition(
                path, "in", tuple(typed_value(v, kind, key) for v in values), kind, key, arrays
            )
        assert isinstance(raw, str)
        if inner is None:
            null_test = _NULL_VALUES.get(raw.strip().lower())
            if null_test:
                return Condition(path, null_test, None, kind, key, arrays)
            self.comparable(info, key)
            if "%" in raw and kind in ("string", "date-time", "date"):
                return Condition(path, "contains", raw.replace("%", ""), "string", key, arrays)
            return Condition(path, "eq", typed_value(raw, kind, key), kind, key, arrays)
        self.comparable(info, key)
        if inner not in OPERATORS:
            known = ", ".join(OPERATORS)
            raise _bad(key, "unknownOperator", f"uses unknown operator {inner!r} (known: {known})")
        operator, kind_override = OPERATORS[inner]
        if inner in _DATE_ONLY_OPERATORS and kind not in ("date-time", "date"):
            raise _bad(key, "operator", f"applies to dates and date-times; {path!r} is a {kind}")
        if operator in _ORDERING_OPERATORS and kind == "boolean":
            raise _bad(key, "operator", f"cannot order booleans ({path!r} is a boolean)")
        if operator in _TEXT_OPERATORS:
            if kind not in ("string", "date-time", "date"):
                raise _bad(key, "operator", f"applies to text; {path!r} is a {kind}")
            if operator == "regex":
                try:
                    compile_linear(raw)
                except ValueError as error:
                    raise _bad(
                        key,
                        "regex",
                        f"is not a regular expression the gateway runs ({error}; RE2 syntax, "
                        "no backreferences or lookaround)",
                    ) from None
            return Condition(path, operator, raw, "string", key, arrays)
        kind = kind_override or kind
        return Condition(path, operator, typed_value(raw, kind, key), kind, key, arrays)

    @staticmethod
    def comparable(info: PathInfo, parameter: str) -> None:
        if info.types and info.types <= {"object", "array"}:
            raise _bad(
                parameter, "type", f"{info.path!r} holds objects: filter on one of its properties"
            )

    def order(self, key: str, inner: str | None, raw: str) -> list[Order]:
        """`_order[path]=asc|desc`; also `_order=path` / `_order=-path` (comma-separated)."""
        entries = (
            [(inner, raw)]
            if inner
            else [
                (p.lstrip("-+"), "desc" if p.startswith("-") else "asc")
                for p in _path_list([raw], None)
            ]
        )
        orders = []
        for path, direction in entries:
            if direction.lower() not in ("asc", "desc"):
                raise _bad(key, "enum", f"must be asc or desc, got {direction!r}")
            info = self.info(path, key)
            self.comparable(info, key)
            orders.append(
                Order(path, direction.lower() == "desc", info.scalar_type, self.arrays(path))
            )
        return orders

    def parse(self, params: Sequence[tuple[str, str]]) -> ListQuery:
        limit, page, offset = self.default_limit, None, None
        conditions: list[Condition | RelatedCondition] = []
        orders: list[Order] = []
        search: Search | None = None
        fields: list[str] | None = None
        extend: list[str] = []
        lists: dict[tuple[str, str], list[str]] = {}
        for key, raw in params:
            match = _KEY.match(key)
            if match is None:
                raise _bad(key, "syntax", "is not a parameter name, path or path[operator]")
            name, inner, as_list = match["name"], match["inner"], bool(match["list"])
            if inner == "" and not as_list:  # `prop[]`: the operator group took the brackets
                inner, as_list = None, True
            reserved = self.reserved_name(name)
            if reserved is not None:
                if reserved == "limit":
                    limit = _whole_number(raw, key, 1, self.max_limit)
                elif reserved == "page":
                    page = _whole_number(raw, key, 1, MAX_PAGE)
                elif reserved in ("start", "offset"):
                    offset = _whole_number(raw, key, 0, MAX_OFFSET)
                elif reserved == "order":
                    orders.extend(self.order(key, inner, raw))
                elif reserved == "search":
                    if not raw.strip():
                        continue
                    search_paths = tuple(_path_list([], inner)) or None
                    for path in search_paths or ():
                        self.info(path, key)
                    search = Search(raw, search_paths)
                elif reserved == "fields":
                    fields = (fields or []) + _path_list([raw], inner)
                    for path in fields:
                        if path not in ("id", "_self", "embedded"):
                            self.info(path, key)
                elif reserved == "extend":
                    extend += _path_list([raw], inner)
                else:
                    raise _bad(key, "unknownParameter", "is not a supported reserved parameter")
            elif as_list and inner is None:
                lists.setdefault((key, name), []).append(raw)
            elif as_list:  # `prop[op][]=v` would otherwise silently become "one of", ignoring `op`
                raise _bad(key, "operator", "cannot combine an operator with a list of values")
            else:
                conditions.append(self.condition(key, name, inner, as_list, raw))
        for (key, name), values in lists.items():
            conditions.append(self.condition(key, name, None, True, values))
        if offset is None:
            offset = ((page or 1) - 1) * limit
        return ListQuery(
            tuple(conditions),
            search,
            tuple(orders),
            limit,
            offset,
            tuple(fields) if fields is not None else None,
            tuple(extend),
        )


def split_key(part: str) -> tuple[str, str]:
    """`key=value` of one query-string part, split at the first `=` outside brackets, so that the
    raw `n[>=]=5` (as typed, unencoded) is the key `n[>=]` with the value `5`."""
    key, _, value = part.partition("=")
    if "[" not in key:  # most parts: the first `=` is outside brackets
        return key, value
    depth = 0
    for index, char in enumerate(part):
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char == "=" and depth == 0:
            return part[:index], part[index + 1 :]
    key, _, value = part.partition("=")
    return key, value


def parse_query_string(raw: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a raw query string (latin-1 decoded bytes, as in the ASGI scope),
    percent-decoded as UTF-8, blank values kept."""
    pairs: list[tuple[str, str]] = []
    for part in raw.split("&"):
        if not part:
            continue
        key, value = split_key(part)
        pairs.append((_decode(key), _decode(value)))
    return pairs


def _decode(text: str) -> str:
    if text.isascii() and "%" not in text and "+" not in text:
        return text  # most names and values: nothing to decode
    return unquote_plus(text.encode("latin-1").decode("utf-8", "replace"))


def parse_list_query(
    params: Sequence[tuple[str, str]],
    paths: Mapping[str, PathInfo],
    default_limit: int,
    max_limit: int,
    lookup: PathLookup | None = None,
) -> ListQuery:
    """`lookup` gives the paths of a related objecttype by `$id`, for filters across relations."""
    return _Parser(paths, default_limit, max_limit, lookup).parse(params)


def project(document: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Keep only the dotted `fields` (through arrays, element-wise); `id` and `_self` always stay,
    and `embedded` keeps the related objects of the kept properties."""
    tree: dict[str, Any] = {}
    for path in fields:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    result: dict[str, Any] = {key: document[key] for key in ("id", "_self") if key in document}
    for key, value in _project(document, tree).items():
        result.setdefault(key, value)
    if "embedded" in document and "embedded" not in tree:
        embedded = _prune(_project(document["embedded"], tree), tree)
        if embedded:
            result["embedded"] = embedded
    return result


def _prune(value: Any, tree: dict[str, Any]) -> Any:
    """Drop the empty shells projection leaves along the projected paths of `embedded`
    (value objects whose relations were all cut); kept related objects stay whole."""
    if not tree:
        return value
    if isinstance(value, dict):
        kept = {key: _prune(child, tree.get(key, {})) for key, child in value.items()}
        return {key: child for key, child in kept.items() if child not in ({}, [], None)}
    if isinstance(value, list):
        elements = [_prune(element, tree) for element in value]
        return [] if all(e in ({}, [], None) for e in elements) else elements
    return value


def _project(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [_project(element, tree) for element in value]
    if not isinstance(value, dict):
        return value
    return {key: _project(value[key], sub) for key, sub in tree.items() if key in value}
