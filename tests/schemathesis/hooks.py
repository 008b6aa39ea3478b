"""Schemathesis hooks for `schemathesis run` against this gateway (docs/openapi.md): what the
OpenAPI document cannot say in JSON Schema.

- `format: bsn`: nine digits that pass the eleven-test (else nearly every generated BSN is one a
  positive test expects to be accepted and the gateway rightly refuses);
- a relation given by id, by URL or as an existing object (`{"id": ...}`) must name an object
  that exists: in a request meant to be valid, generated ones are replaced by the ids of
  objects the gateway has (read from its list endpoints; again after a delete, and every 30 s;
  a facade's reference names its list in `x-collection`);
- `If-Match` must name the object's current version: in a request meant to be valid it becomes
  `*` (any version), since a generated ETag is stale and 412 is the right answer to it.
- a query value that serialises to nothing (null, `[[], {}]`) is not sent at all: such generated
  queries are left out, or a negative test blames the gateway for a value it never received.

Load with `SCHEMATHESIS_HOOKS=tests/schemathesis/hooks.py`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

RELATION = "x-relation"
COMPONENTS = "#/components/schemas/"
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"
WEIGHTS = range(9, 1, -1)


def _bsn(first_eight: list[int]) -> str | None:
    """The BSN starting with these digits, if one exists (the check digit must be 0-9)."""
    check = sum(w * d for w, d in zip(WEIGHTS, first_eight, strict=True)) % 11
    digits = "".join(map(str, first_eight)) + str(check)
    return digits if check < 10 and digits != "000000000" else None


def _valid_bsn(value: str) -> str:
    """A BSN for a generated value the coverage phase took from the pattern alone."""
    digits = [int(c) for c in value if c in "0123456789"][:8]
    digits += [9] * (8 - len(digits))
    while (bsn := _bsn(digits)) is None:
        digits[7] = (digits[7] + 1) % 10
    return bsn


def is_bsn(value: str) -> bool:
    return (
        len(value) == 9
        and value.isascii()
        and value.isdigit()
        and _bsn([int(c) for c in value[:8]]) == value
    )


schemathesis.openapi.format(
    "bsn",
    st.lists(st.integers(0, 9), min_size=8, max_size=8).map(_bsn).filter(bool),
)


class _Document:
    """The OpenAPI document of one run, with what the hooks need to read from it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.schemas: dict[str, Any] = raw.get("components", {}).get("schemas", {})

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and str(schema.get("$ref", "")).startswith(COMPONENTS):
            schema = self.schemas.get(schema["$ref"].removeprefix(COMPONENTS), {})
        return schema

    def collection_of(self, relation: dict[str, Any], server_path: str) -> str | None:
        """The list path of a relation's target: the one its URL pattern accepts objects of."""
        pattern = next((c["pattern"] for c in relation["anyOf"] if "pattern" in c), None)
        if pattern is None:
            return None
        for path, item in self.raw.get("paths", {}).items():
            sample = f"{server_path}{path}/{SAMPLE_ID}"
            if "get" in item and "{" not in path and re.match(pattern, sample):
                return str(path)
        return None


_READ: dict[str, tuple[float, list[str]]] = {}
FRESH_SECONDS = 30  # re-read now and then: the run deletes objects too


def _existing_ids(base_url: str, collection: str) -> list[str]:
    url = f"{base_url}{collection}?limit=1000&fields=id"
    read_at, ids = _READ.get(url, (0.0, []))
    if time.monotonic() - read_at > FRESH_SECONDS:
        with urlopen(url, timeout=10) as answer:
            ids = [item["id"] for item in json.load(answer)["results"]]
        _READ[url] = (time.monotonic(), ids)
    return ids


class _References:
    """Replaces the relation values in one request body by references to existing objects."""

    def __init__(self, document: _Document, base_url: str) -> None:
        self.document = document
        self.base_url = base_url
        self.ids: dict[str, list[str]] = {}
        self.turn = 0

    def existing(self, relation: dict[str, Any]) -> str | None:
        collection = relation.get("x-collection") or self.document.collection_of(
            relation, urlsplit(self.base_url).path
        )
        if not collection:
            return None
        if collection not in self.ids:
            self.ids[collection] = _existing_ids(self.base_url, collection)
        known = self.ids[collection]
        self.turn += 1
        return known[self.turn % len(known)] if known else None

    def fix(self, value: Any, schema: Any) -> Any:
        schema = self.document.resolve(schema)
        if not isinstance(schema, dict):
            return value
        if RELATION in schema:
            return self._fix_relation(value, schema)
        if schema.get("format") == "bsn" and isinstance(value, str):
            return value if is_bsn(value) else _valid_bsn(value)
        for part in schema.get("allOf", []):
            value = self.fix(value, part)
        if "anyOf" in schema:
            return self._fix_choice(value, schema["anyOf"])
        if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
            return {
                key: self.fix(child, schema["properties"].get(key, {}))
                for key, child in value.items()
            }
        if isinstance(value, list) and "items" in schema:
            return [self.fix(element, schema["items"]) for element in value]
        return value

    def _fix_choice(self, value: Any, choices: list[Any]) -> Any:
        kind = {dict: "object", list: "array", str: "string"}.get(type(value))
        for choice in choices:
            resolved = self.document.resolve(choice)
            if not isinstance(resolved, dict):
                continue
            if RELATION in resolved or (kind and resolved.get("type") == kind):
                return self.fix(value, choice)
        return value

    def _fix_relation(self, value: Any, relation: dict[str, Any]) -> Any:
        if isinstance(value, str):
            return self.existing(relation) or value
        if not isinstance(value, dict):
            return value
        variant = "ById" if value.get("id") is not None else "New"
        choice = next(
            (c for c in relation.get("anyOf", []) if variant in str(c.get("$ref", ""))), {}
        )  # a nested object where only references are described is left as generated
        fixed = self.fix(value, choice)
        if fixed.get("id") is not None:
            fixed["id"] = self.existing(relation) or fixed["id"]
        return fixed


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """A delete (with what it cascades to) makes the ids read before stale."""
    if case.method.upper() == "DELETE" and response.status_code == 204:
        _READ.clear()


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if case.headers and "If-Match" in case.headers:
        case.headers["If-Match"] = "*"
    if not isinstance(case.body, (dict, list)) or case.media_type is None:
        return case
    body = case.operation.definition.raw.get("requestBody", {})
    schema = body.get("content", {}).get(case.media_type, {}).get("schema")
    if schema is None:
        return case
    document = _Document(case.operation.schema.raw_schema)
    case.body = _References(document, case.operation.base_url.rstrip("/")).fix(case.body, schema)
    return case


def _unsendable(value: Any) -> bool:
    """A query value that serialises to nothing: null, or a list or object of only such values
    or other lists and objects (which a query string cannot carry)."""
    if value is None:
        return True
    if isinstance(value, (list, dict)):
        members = value.values() if isinstance(value, dict) else value
        return all(_unsendable(m) or isinstance(m, (list, dict)) for m in members)
    return False


@schemathesis.hook
def filter_query(context: Any, query: Any) -> bool:
    """A value that cannot be sent (null, `[[], {}]`: what a negative test may generate for a
    member of a form-exploded family such as `filter`) makes the parameter vanish from the URL,
    and the negative test then blames the gateway for accepting a value it never received. Such
    queries are left out."""
    if not isinstance(query, dict):
        return True
    return not any(_unsendable(value) for value in query.values())
