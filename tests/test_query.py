"""The query language through the HTTP API: every operator and reserved parameter, table-driven.

A fixture objecttype (standard JSON Schema 2020-12, written to a temporary schema folder) has a
nested object, an array of objects, an array of strings, a number, an integer, a boolean, a string,
a date-time, and a property named `order` (so the alias `order` is a filter there, not `_order`).
Eight documents are POSTed once per module; each row is (query string, expected labels).

Query strings in the tables are written literally (`born[after]=2024-01-01T10:00:00+01:00`) and
URL-encoded by the test client, so `+`, `%`, `[` and spaces arrive as written. Rows without an
`_order` expect creation order; rows with one expect exactly that order.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/, for reference_eval

from reference_eval import query_pairs

from gateway_core.app import create_app, load_gateway
from gateway_core.config import Settings

MAX_LIMIT = 50
THINGS = "/api/thing"
PARTIJEN = "/api/partij"

_TEXT = {"type": "string"}
_DATE_TIME = {"type": "string", "format": "date-time"}
THING_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/schemas/thing.schema.json",
    "title": "Thing",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": _TEXT,
        "order": _TEXT,
        "age": {"type": "integer"},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
        "born": _DATE_TIME,
        "tags": {"type": "array", "items": _TEXT},
        "address": {
            "type": "object",
            "properties": {
                "city": _TEXT,
                "zip": _TEXT,
                "geo": {"type": "object", "properties": {"lat": {"type": "number"}}},
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": _TEXT,
                    "qty": {"type": "integer"},
                    "price": {"type": "number"},
                    "when": _DATE_TIME,
                },
            },
        },
    },
}
PARTIJ_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/schemas/partij.schema.json",
    "title": "Partij",
    "type": "object",
    "properties": {
        "naam": _TEXT,
        "externeIdentificatie": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "partijIdentificator": {
                        "type": "object",
                        "properties": {
                            "objectId": _TEXT,
                            "objecttype": _TEXT,
                            "codeRegister": _TEXT,
                        },
                    }
                },
            },
        },
    },
}

DOCUMENTS: dict[str, dict[str, Any]] = {
    "ann": {
        "name": "Ann",
        "order": "X-100",
        "age": 30,
        "score": 7.5,
        "active": True,
        "born": "1990-05-01T10:00:00+02:00",
        "tags": ["red", "blue"],
        "address": {"city": "Amsterdam", "zip": "1011AB", "geo": {"lat": 52.37}},
        "items": [
            {"sku": "A-1", "qty": 2, "price": 9.99, "when": "2024-03-01T10:00:00+01:00"},
            {"sku": "B-2", "qty": 1, "price": 100},
        ],
    },
    "bob": {
        "name": "bob",
        "order": "x-200",
        "age": 17,
        "score": 12,
        "active": False,
        "born": "1990-05-01T08:00:00Z",
        "tags": ["green"],
        "address": {"city": "Rotterdam", "zip": "3011AA"},
        "items": [{"sku": "a-1", "qty": 5, "price": 10}],
    },
    "cat": {
        "name": "Cat",
        "age": 65,
        "score": 7.25,
        "active": True,
        "born": "1985-12-31T23:30:00-01:00",
        "tags": [],
        "address": {"city": "amsterdam", "geo": {"lat": 51.9}},
        "items": [],
    },
    "dora": {
        "name": "Dora.Explorer",
        "age": 42,
        "score": 100.5,
        "active": False,
        "born": "2001-01-01T00:00:00+00:00",
        "tags": ["red"],
        "address": {"city": "Utrecht"},
        "items": [{"sku": "C-3", "qty": 10, "price": 0.5}],
    },
    "eve": {
        "name": "Eve (admin)",
        "age": 18,
        "score": 18.0,
        "born": "2024-02-29T12:00:00Z",
        "items": [{"sku": "A-1", "qty": 1, "price": 20}],
    },
    "finn": {
        "name": "FINN",
        "age": 66,
        "active": True,
        "tags": ["Red"],
        "address": {"city": "Den Haag", "zip": "2511AB"},
        "items": [{"sku": "D-4", "qty": 2, "price": 20}, {"sku": "E-5", "qty": 3}],
    },
    "gus": {
        "name": "gus 100%",
        "order": "G-1",
        "age": 5,
        "score": -3,
        "active": False,
        "born": "2024-02-29T13:00:00+01:00",
    },
    "hank": {"name": "Hank"},
}
LABELS = list(DOCUMENTS)
PATCHED = "cat"  # created with PRE_PATCH, PATCHed to DOCUMENTS["cat"] once every document exists
PRE_PATCH = {"age": 64}

PARTIJEN_DOCUMENTS: dict[str, dict[str, Any]] = {
    "match": {
        "naam": "one element holds both",
        "externeIdentificatie": [
            {"partijIdentificator": {"objectId": "999993653", "objecttype": "ingeschrevenpersoon"}},
        ],
    },
    "match-second": {
        "naam": "the second element holds both",
        "externeIdentificatie": [
            {"partijIdentificator": {"objectId": "123456789", "objecttype": "vestiging"}},
            {"partijIdentificator": {"objectId": "999993653", "objecttype": "ingeschrevenpersoon"}},
        ],
    },
    "split": {
        "naam": "decoy: the two values in different elements",
        "externeIdentificatie": [
            {"partijIdentificator": {"objectId": "999993653", "objecttype": "vestiging"}},
            {"partijIdentificator": {"objectId": "111222333", "objecttype": "ingeschrevenpersoon"}},
        ],
    },
    "other-bsn": {
        "naam": "another person",
        "externeIdentificatie": [
            {"partijIdentificator": {"objectId": "999990019", "objecttype": "ingeschrevenpersoon"}},
        ],
    },
    "same-number-other-type": {
        "naam": "a branch with that number",
        "externeIdentificatie": [
            {"partijIdentificator": {"objectId": "999993653", "objecttype": "vestiging"}},
        ],
    },
    "none": {"naam": "no identifications"},
}


class Api:
    """The module's client, with the labels of the stored documents."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.label_of: dict[str, str] = {}
        self.stored: dict[str, dict[str, Any]] = {}

    def post_all(
        self,
        route: str,
        documents: dict[str, dict[str, Any]],
        first_versions: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """POST in order; `first_versions[label]` is merged into that document as created."""
        for label, document in documents.items():
            response = self.client.post(
                route, json={**document, **(first_versions or {}).get(label, {})}
            )
            assert response.status_code == 201, response.text
            self.label_of[response.json()["id"]] = label
            self.stored[label] = response.json()

    def placeholders(self, text: str) -> str:
        """`{id:ann}`, `{created:ann}`, `{modified:ann}`: that document's id and times."""

        def value(match: re.Match[str]) -> str:
            item = self.stored[match["label"]]
            return str(
                item["id"]
                if match["what"] == "id"
                else item["_self"][f"date{match['what'].title()}"]
            )

        return re.sub(r"\{(?P<what>id|created|modified):(?P<label>[\w-]+)\}", value, text)

    def get(self, route: str, query: str) -> Any:
        return self.client.get(route, params=query_pairs(self.placeholders(query)))

    def labels(self, route: str, query: str) -> list[str]:
        response = self.get(route, query)
        assert response.status_code == 200, response.text
        return [self.label_of[item["id"]] for item in response.json()["results"]]


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, module_databases: Callable[[], str]
) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("query-schemas")
    (folder / "thing.schema.json").write_text(json.dumps(THING_SCHEMA))
    (folder / "partij.schema.json").write_text(json.dumps(PARTIJ_SCHEMA))
    settings = Settings(
        database=module_databases(),
        schemas=(str(folder),),
        max_limit=MAX_LIMIT,
    )
    app = create_app(settings, load_gateway(settings, plugins=[]))
    with TestClient(app) as client:
        api = Api(client)
        api.post_all(THINGS, DOCUMENTS, {PATCHED: PRE_PATCH})
        api.post_all(PARTIJEN, PARTIJEN_DOCUMENTS)
        patched = client.patch(
            f"{THINGS}/{api.stored[PATCHED]['id']}", json={"age": DOCUMENTS[PATCHED]["age"]}
        )
        assert patched.status_code == 200, patched.text
        api.stored[PATCHED] = patched.json()
        yield api


ALL = LABELS

FILTER_ROWS: list[tuple[str, list[str]]] = [
    # (none): equality; strings case-insensitive whole values, other types by the schema's type
    ("name=ann", ["ann"]),
    ("name=ANN", ["ann"]),
    ("name=an", []),
    ("name=Dora.Explorer", ["dora"]),
    ("address.city=AMSTERDAM", ["ann", "cat"]),
    ("address.geo.lat=52.37", ["ann"]),
    ("tags=RED", ["ann", "dora", "finn"]),
    ("items.sku=a-1", ["ann", "bob", "eve"]),
    ("age=30", ["ann"]),
    ("age=30.0", ["ann"]),
    ("score=12", ["bob"]),
    ("score=18", ["eve"]),
    ("score=7.5", ["ann"]),
    ("active=true", ["ann", "cat", "finn"]),
    ("active=FALSE", ["bob", "dora", "gus"]),
    ("born=1990-05-01T08:00:00Z", ["ann", "bob"]),
    ("born=2024-02-29T12:00:00Z", ["eve", "gus"]),
    ("order=x-100", ["ann"]),
    ("items.qty=10", ["dora"]),
    (
        "items.when=2024-03-01T09:00:00Z",
        ["ann"],
    ),  # the schema has `order`: a filter, not the alias of `_order`
    # exact / case_sensitive / case_insensitive
    ("name[exact]=Ann", ["ann"]),
    ("name[exact]=ann", []),
    ("name[case_sensitive]=bob", ["bob"]),
    ("name[case_sensitive]=Bob", []),
    ("name[case_insensitive]=BOB", ["bob"]),
    ("address.city[exact]=amsterdam", ["cat"]),
    ("address.city[case_sensitive]=Amsterdam", ["ann"]),
    ("items.sku[case_sensitive]=A-1", ["ann", "eve"]),
    ("address.city[case_insensitive]=utrecht", ["dora"]),
    ("items.sku[case_insensitive]=c-3", ["dora"]),
    ("age[case_insensitive]=30", ["ann"]),
    ("tags[exact]=Red", ["finn"]),
    ("items.sku[exact]=a-1", ["bob"]),
    ("age[exact]=17", ["bob"]),
    ("score[exact]=18", ["eve"]),
    ("active[exact]=false", ["bob", "dora", "gus"]),
    ("born[exact]=1990-05-01T09:00:00+01:00", ["ann", "bob"]),
    # like: case-insensitive contains, literal text
    ("name[like]=AN", ["ann", "hank"]),
    ("name[like]=.", ["dora"]),
    ("name[like]=(admin)", ["eve"]),
    ("name[like]=%", ["gus"]),
    ("address.city[like]=DAM", ["ann", "bob", "cat"]),
    ("items.sku[like]=-1", ["ann", "bob", "eve"]),
    ("born[like]=2024-02-29", ["eve", "gus"]),
    # regex: case-sensitive, unanchored search
    ("name[regex]=^[A-Z]", ["ann", "cat", "dora", "eve", "finn", "hank"]),
    ("name[regex]=^[a-z]", ["bob", "gus"]),
    ("name[regex]=n$", ["ann"]),
    ("name[regex]=(?i)^finn$", ["finn"]),
    ("name[regex]=a.E", ["dora"]),
    ("items.sku[regex]=^[A-C]-", ["ann", "dora", "eve"]),
    ("address.zip[regex]=^[0-9]{4}AB$", ["ann", "finn"]),
    ("born[regex]=Z$", ["bob", "eve"]),
    # >= > <= < by the schema's type; several operators on one key are AND-ed
    ("age[>=]=65", ["cat", "finn"]),
    ("age[>]=65", ["finn"]),
    ("age[<=]=17", ["bob", "gus"]),
    ("age[<]=17", ["gus"]),
    ("age[>=]=18&age[<=]=30", ["ann", "eve"]),
    ("age[>]=17&age[<]=66&age[ne]=30", ["cat", "dora", "eve"]),
    ("score[>]=7.3", ["ann", "bob", "dora", "eve"]),  # 7.25 is below 7.3: numbers, not ints
    ("score[<]=7.5", ["cat", "gus"]),
    ("score[<=]=7.25", ["cat", "gus"]),
    ("score[>=]=-3&score[<]=0", ["gus"]),
    ("address.geo.lat[<]=52", ["cat"]),
    ("items.qty[>=]=5", ["bob", "dora"]),
    ("items.price[>]=99.5", ["ann"]),
    ("name[>=]=e", ["eve", "finn", "gus", "hank"]),  # strings: case-insensitive, as sorting
    ("name[<]=BOB", ["ann"]),
    ("born[>]=2024-02-29T12:00:00Z", []),  # gus is the same instant, written at +01:00
    ("born[>=]=2024-02-29T12:00:00Z", ["eve", "gus"]),
    # after / strictly_after / before / strictly_before: date-times as instants
    ("born[after]=2001-01-01", ["dora", "eve", "gus"]),  # a date: midnight UTC
    ("born[strictly_after]=2001-01-01", ["eve", "gus"]),
    ("born[before]=1990-05-01T08:00:00Z", ["ann", "bob", "cat"]),
    ("born[strictly_before]=1990-05-01T10:00:00+02:00", ["cat"]),
    ("born[before]=1986-01-01T00:30:00", ["cat"]),  # no time zone: UTC
    ("born[strictly_before]=1986-01-01T00:30:00", []),
    ("born[after]=2024-02-29T13:00:00+01:00", ["eve", "gus"]),
    ("born[after]=1990-01-01&born[before]=2000-01-01", ["ann", "bob"]),
    ("items.when[before]=2024-03-01T09:00:00Z", ["ann"]),
    ("items.when[strictly_before]=2024-03-01T09:00:00Z", []),
    # ne: not equal, also where the value is absent
    ("name[ne]=ann", ["bob", "cat", "dora", "eve", "finn", "gus", "hank"]),
    ("active[ne]=true", ["bob", "dora", "eve", "gus", "hank"]),
    ("tags[ne]=red", ["bob", "cat", "eve", "gus", "hank"]),  # no element equals
    ("age[ne]=30", ["bob", "cat", "dora", "eve", "finn", "gus", "hank"]),
    ("born[ne]=1990-05-01T08:00:00Z", ["cat", "dora", "eve", "finn", "gus", "hank"]),
    ("items.sku[ne]=a-1", ["cat", "dora", "finn", "gus", "hank"]),
    ("address.city[ne]=amsterdam", ["bob", "dora", "eve", "finn", "gus", "hank"]),
    # int_compare / bool_compare: kept from CG, equality after reading the value as number / boolean
    ("age[int_compare]=30", ["ann"]),
    ("score[int_compare]=12", ["bob"]),
    ("active[bool_compare]=true", ["ann", "cat", "finn"]),
    ("active[bool_compare]=0", ["bob", "dora", "gus"]),
    ("items.qty[int_compare]=10", ["dora"]),
    # prop[]=a&prop[]=b: one of
    ("name[]=ann&name[]=BOB", ["ann", "bob"]),
    ("age[]=17&age[]=65&age[]=99", ["bob", "cat"]),
    ("tags[]=blue&tags[]=green", ["ann", "bob"]),
    ("items.sku[]=C-3&items.sku[]=d-4", ["dora", "finn"]),
    ("active[]=true", ["ann", "cat", "finn"]),
    ("address.city[]=utrecht&address.city[]=den haag", ["dora", "finn"]),
    ("born[]=1990-05-01T08:00:00Z&born[]=2001-01-01T01:00:00+01:00", ["ann", "bob", "dora"]),
    # IS NULL / IS NOT NULL: absence (an empty array holds no value)
    ("active=IS NULL", ["eve", "hank"]),
    ("active=IS NOT NULL", ["ann", "bob", "cat", "dora", "finn", "gus"]),
    ("tags=IS NULL", ["cat", "eve", "gus", "hank"]),
    ("address=IS NULL", ["eve", "gus", "hank"]),
    ("address.zip=is null", ["cat", "dora", "eve", "gus", "hank"]),
    ("items.price=IS NOT NULL", ["ann", "bob", "dora", "eve", "finn"]),
    ("score=IS NULL", ["finn", "hank"]),
    # % in a plain value: case-sensitive contains, % removed
    ("name=%nn%", ["ann"]),
    ("name=%NN", ["finn"]),
    ("name=100%", ["gus"]),
    ("address.zip=%AB", ["ann", "finn"]),
    ("born=2024%", ["eve", "gus"]),
    ("items.sku=%-%", ["ann", "bob", "dora", "eve", "finn"]),
    # metadata
    ("id={id:dora}", ["dora"]),
    ("id[]={id:ann}&id[]={id:hank}", ["ann", "hank"]),
    ("_self.dateCreated[after]={created:finn}", ["finn", "gus", "hank"]),
    ("_self.dateCreated[strictly_after]={created:finn}", ["gus", "hank"]),
    ("_self.dateCreated[before]={created:bob}", ["ann", "bob"]),
    ("_self.dateCreated={created:eve}", ["eve"]),
    ("_self.dateModified[strictly_after]={created:hank}", [PATCHED]),
    ("_self.dateModified[before]={modified:bob}", ["ann", "bob"]),
    # _search / search: literal, case-insensitive contains over the string values
    ("_search=amsterdam", ["ann", "cat"]),
    ("_search=A-1", ["ann", "bob", "eve"]),
    ("_search=.", ["dora"]),  # a literal dot, not "any character"
    ("_search=(admin)", ["eve"]),
    ("_search=100%", ["gus"]),
    ("_search=x-1", ["ann"]),
    ("_search=1990", ["ann", "bob"]),  # date-time values are text too
    ("_search=^a", []),
    ("_search[address.city,name]=an", ["ann", "hank"]),
    ("_search[address.city]=AM", ["ann", "bob", "cat"]),
    ("_search[items.sku]=-1", ["ann", "bob", "eve"]),
    ("_search[address]=ab", ["ann", "finn"]),  # every string under the object
    ("search=utrecht", ["dora"]),
    ("_search=a&active=false", ["bob", "dora"]),
    ("_search=", ALL),  # an empty term searches nothing away
    # page window: _limit, _page, _start, _offset and their aliases
    ("_limit=3", ["ann", "bob", "cat"]),
    ("_limit=3&_page=2", ["dora", "eve", "finn"]),
    ("_limit=3&_page=3", ["gus", "hank"]),
    ("_limit=3&_page=4", []),
    ("_start=6", ["gus", "hank"]),
    ("_offset=7", ["hank"]),
    ("_limit=2&_start=3", ["dora", "eve"]),
    ("limit=2&page=2", ["cat", "dora"]),
    ("start=7", ["hank"]),
    ("offset=6&limit=1", ["gus"]),
    (f"_limit={MAX_LIMIT}", ALL),
]

ORDER_ROWS: list[tuple[str, list[str]]] = [
    ("_order[age]=asc", ["gus", "bob", "eve", "ann", "dora", "cat", "finn", "hank"]),
    ("_order[age]=desc", ["finn", "cat", "dora", "ann", "eve", "bob", "gus", "hank"]),
    ("_order=-age", ["finn", "cat", "dora", "ann", "eve", "bob", "gus", "hank"]),
    (
        "_order[name]=asc",
        ["ann", "bob", "cat", "dora", "eve", "finn", "gus", "hank"],
    ),  # case-insensitive
    ("_order[name]=DESC", ["hank", "gus", "finn", "eve", "dora", "cat", "bob", "ann"]),
    (
        "_order[active]=desc&_order[age]=asc",
        ["ann", "cat", "finn", "gus", "bob", "dora", "eve", "hank"],
    ),
    ("_order[address.city]=asc", ["ann", "cat", "finn", "bob", "dora", "eve", "gus", "hank"]),
    ("_order[address.geo.lat]=desc", ["ann", "cat", "bob", "dora", "eve", "finn", "gus", "hank"]),
    (
        "_order[born]=asc",
        ["cat", "ann", "bob", "dora", "eve", "gus", "finn", "hank"],
    ),  # ties: creation
    ("_order[born]=desc", ["eve", "gus", "dora", "ann", "bob", "cat", "finn", "hank"]),
    (
        "_order[items.price]=desc",
        ["eve", "finn", "bob", "ann", "dora", "cat", "gus", "hank"],
    ),  # first element
    ("_order[tags]=asc", ["bob", "ann", "dora", "finn", "cat", "eve", "gus", "hank"]),
    ("_order[_self.dateCreated]=desc", ["hank", "gus", "finn", "eve", "dora", "cat", "bob", "ann"]),
    (
        "_order[_self.dateModified]=desc",
        ["cat", "hank", "gus", "finn", "eve", "dora", "bob", "ann"],
    ),
    ("_order[score]=asc&_limit=3&_page=2", ["bob", "eve", "dora"]),
    ("_order[age]=asc&age[>]=17", ["eve", "ann", "dora", "cat", "finn"]),
    ("_order=-active,name", ["ann", "cat", "finn", "bob", "dora", "gus", "eve", "hank"]),
    (
        "_order[order]=asc",
        ["gus", "ann", "bob", "cat", "dora", "eve", "finn", "hank"],
    ),  # property `order`
]

ERROR_ROWS: list[tuple[str, str, str]] = [
    # (query, parameter named in invalidParams, code)
    ("nope=1", "nope", "unknownPath"),
    ("address.nope=1", "address.nope", "unknownPath"),
    ("items.nope[like]=x", "items.nope[like]", "unknownPath"),
    ("name[nope]=1", "name[nope]", "unknownOperator"),
    ("name[eq]=1", "name[eq]", "unknownOperator"),
    ("name[regex]=(", "name[regex]", "regex"),
    ("name[regex]=[a-", "name[regex]", "regex"),
    ("age=abc", "age", "type"),
    ("score[>]=ten", "score[>]", "type"),
    ("score=NaN", "score", "type"),
    ("active=yes", "active", "type"),
    ("age[]=5&age[]=x", "age[]", "type"),
    ("address=Amsterdam", "address", "type"),
    ("items=x", "items", "type"),
    ("born=yesterday", "born", "format"),
    ("born[after]=2024-13-01", "born[after]", "format"),
    ("_self.dateCreated[before]=soon", "_self.dateCreated[before]", "format"),
    ("name[after]=2024-01-01", "name[after]", "operator"),
    ("age[before]=5", "age[before]", "operator"),
    ("active[>]=true", "active[>]", "operator"),
    ("age[like]=1", "age[like]", "operator"),
    ("active[regex]=t", "active[regex]", "operator"),
    ("age[>=][]=5", "age[>=][]", "operator"),
    ("_limit=0", "_limit", "range"),
    (f"_limit={MAX_LIMIT + 1}", "_limit", "range"),
    ("limit=1000", "limit", "range"),
    ("_limit=ten", "_limit", "type"),
    ("_page=0", "_page", "range"),
    ("page=-1", "page", "range"),
    ("_page=two", "_page", "type"),
    ("_start=-1", "_start", "range"),
    # found by the fuzzer: a page this far made the envelope's offset too large to encode (a 500)
    ("_page=149736961829017681920", "_page", "range"),
    ("_offset=9007199254740992", "_offset", "range"),
    ("_offset=x", "_offset", "type"),
    ("_order[nope]=asc", "_order[nope]", "unknownPath"),
    ("_order=-nope", "_order", "unknownPath"),
    ("_order[age]=up", "_order[age]", "enum"),
    ("_order[items]=asc", "_order[items]", "type"),
    ("order[age]=desc", "order[age]", "unknownOperator"),  # `order` is a property of this schema
    ("_search[nope]=x", "_search[nope]", "unknownPath"),
    ("_fields=nope", "_fields", "unknownPath"),
    ("_fields[]=name&_fields[]=address.nope", "_fields[]", "unknownPath"),
    ("_bogus=1", "_bogus", "unknownParameter"),
    ("a]b=1", "a]b", "syntax"),
]


@pytest.mark.parametrize(("query", "expected"), FILTER_ROWS, ids=[row[0] for row in FILTER_ROWS])
def test_filter(api: Api, query: str, expected: list[str]) -> None:
    assert api.labels(THINGS, query) == expected


@pytest.mark.parametrize(("query", "expected"), ORDER_ROWS, ids=[row[0] for row in ORDER_ROWS])
def test_order(api: Api, query: str, expected: list[str]) -> None:
    assert api.labels(THINGS, query) == expected


@pytest.mark.parametrize(
    ("query", "parameter", "code"), ERROR_ROWS, ids=[row[0] for row in ERROR_ROWS]
)
def test_invalid_query_is_a_400_naming_the_parameter(
    api: Api, query: str, parameter: str, code: str
) -> None:
    response = api.get(THINGS, query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400 and problem["instance"] == THINGS
    assert [(p["name"], p["code"]) for p in problem["invalidParams"]] == [(parameter, code)]
    assert parameter in problem["detail"]


# -- the BSN query of the seed: two dotted paths inside an array of identifications ---------------


def test_bsn_query_on_two_paths_inside_an_array(api: Api) -> None:
    """Each filter through an array holds when ANY element matches it, on its own (MongoDB without
    $elemMatch; docs/query-language.md "Arrays"). So "split", whose number and type sit in two
    different elements, matches too: that is the documented semantics, not an accident."""
    query = (
        "externeIdentificatie.partijIdentificator.objectId=999993653"
        "&externeIdentificatie.partijIdentificator.objecttype=ingeschrevenpersoon"
    )
    assert api.labels(PARTIJEN, query) == ["match", "match-second", "split"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "externeIdentificatie.partijIdentificator.objectId=999993653",
            ["match", "match-second", "split", "same-number-other-type"],
        ),
        (
            "externeIdentificatie.partijIdentificator.objecttype=INGESCHREVENPERSOON",
            ["match", "match-second", "split", "other-bsn"],
        ),
        ("externeIdentificatie.partijIdentificator.objectId[ne]=999993653", ["other-bsn", "none"]),
        ("externeIdentificatie=IS NULL", ["none"]),
        (
            "externeIdentificatie.partijIdentificator.objectId[]=999990019&externeIdentificatie.partijIdentificator.objectId[]=111222333",
            ["split", "other-bsn"],
        ),
        (
            "_search[externeIdentificatie.partijIdentificator.objectId]=9999",
            ["match", "match-second", "split", "other-bsn", "same-number-other-type"],
        ),
    ],
)
def test_partij_identifications(api: Api, query: str, expected: list[str]) -> None:
    assert api.labels(PARTIJEN, query) == expected


# -- _fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "_fields[]=name&_fields[]=address.city&_fields[]=items.sku",
        "_fields=name,address.city,items.sku",
        "fields=name,address.city&fields=items.sku",
    ],
)
def test_fields_projection_keeps_id_and_self(api: Api, query: str) -> None:
    response = api.get(THINGS, query + "&name=ann")
    assert response.status_code == 200, response.text
    [item] = response.json()["results"]
    assert item == {
        "id": api.stored["ann"]["id"],
        "_self": api.stored["ann"]["_self"],
        "name": "Ann",
        "address": {"city": "Amsterdam"},
        "items": [{"sku": "A-1"}, {"sku": "B-2"}],
    }


def test_fields_leaves_out_what_an_object_lacks(api: Api) -> None:
    results = api.get(THINGS, "_fields=address.geo.lat,score&_order[name]=asc&_limit=3").json()[
        "results"
    ]
    assert [{k: v for k, v in item.items() if k not in ("id", "_self")} for item in results] == [
        {"address": {"geo": {"lat": 52.37}}, "score": 7.5},
        {"address": {}, "score": 12},
        {"address": {"geo": {"lat": 51.9}}, "score": 7.25},
    ]
    assert all(set(item["_self"]) >= {"self", "dateCreated"} for item in results)


# -- envelope, X-Total-Count and Link -------------------------------------------------------------


def links(response: Any) -> dict[str, dict[str, str]]:
    """rel -> the query parameters of that link."""
    found = {}
    for part in response.headers["link"].split(","):
        match = re.match(r'\s*<([^>]*)>;\s*rel="(\w+)"', part)
        assert match, response.headers["link"]
        url = urlsplit(match[1])
        assert url.path == THINGS
        found[match[2]] = dict(parse_qsl(url.query, keep_blank_values=True))
    return found


def test_envelope_and_headers_of_a_middle_page(api: Api) -> None:
    response = api.get(THINGS, "_limit=3&_page=2&name[like]=")
    body = response.json()
    assert {k: body[k] for k in ("count", "limit", "total", "offset", "page", "pages")} == {
        "count": 3,
        "limit": 3,
        "total": 8,
        "offset": 3,
        "page": 2,
        "pages": 3,
    }
    assert response.headers["x-total-count"] == "8"
    rels = links(response)
    assert sorted(rels) == ["first", "last", "next", "prev"]
    assert {rel: params["_page"] for rel, params in rels.items()} == {
        "first": "1",
        "prev": "1",
        "next": "3",
        "last": "3",
    }
    assert all(params["_limit"] == "3" and params["name[like]"] == "" for params in rels.values())


@pytest.mark.parametrize(
    ("query", "total", "rels"),
    [
        ("_limit=3", 8, {"first": "1", "next": "2", "last": "3"}),
        ("_limit=3&_page=3", 8, {"first": "1", "prev": "2", "last": "3"}),
        ("name=nobody", 0, {"first": "1", "last": "1"}),
        ("active=true", 3, {"first": "1", "last": "1"}),
    ],
)
def test_link_and_total_count(api: Api, query: str, total: int, rels: dict[str, str]) -> None:
    response = api.get(THINGS, query)
    assert response.headers["x-total-count"] == str(total)
    assert response.json()["total"] == total and response.json()["pages"] >= 1
    assert {rel: params["_page"] for rel, params in links(response).items()} == rels


def test_links_keep_the_filters_as_sent_and_stay_parsable(api: Api) -> None:
    """The Link URLs repeat the request's own query (no re-encoding per request), with anything
    that could end the `<URL>` percent-encoded."""
    response = api.client.get(f"{THINGS}?_limit=1&name[like]=%3E%20a&_page=2&page=7")
    rels = links(response)
    assert all(params["name[like]"] == "> a" for params in rels.values())
    assert all("page" not in params for params in rels.values())  # paging is replaced
    raw = api.client.get(THINGS, params={"_limit": "1", "name[like]": "<x>"})
    assert raw.status_code == 200 and all(p["name[like]"] == "<x>" for p in links(raw).values())


@pytest.mark.parametrize(
    "order", ["_order[active]=asc", "_order[born]=desc", "_order[tags]=desc&_order[age]=desc", ""]
)
def test_following_next_links_visits_every_object_once(api: Api, order: str) -> None:
    """Ties (equal or missing sort values) keep creation order, so pages never skip or repeat."""
    whole = api.labels(THINGS, f"{order}&_limit={MAX_LIMIT}")
    seen: list[str] = []
    response = api.get(THINGS, f"{order}&_limit=3")
    while True:
        seen += [api.label_of[item["id"]] for item in response.json()["results"]]
        rels = links(response)
        if "next" not in rels:
            break
        response = api.client.get(THINGS, params=rels["next"])
    assert seen == whole and sorted(seen) == sorted(LABELS)


def test_default_limit_is_30(api: Api) -> None:
    assert api.get(THINGS, "").json()["limit"] == 30


# -- docs/query-language.md: every example table row runs here --------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "query-language.md"
_BLOCK = r"<!-- {} -->\s*```json\n(.*?)```"
_ROW = re.compile(r"^\| `\?(?P<query>[^`]*)` \| (?P<result>[^|]*?) \|$", re.M)


def documented_examples() -> list[tuple[str, str]]:
    return [(m["query"], m["result"]) for m in _ROW.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def doc_api(
    tmp_path_factory: pytest.TempPathFactory, module_databases: Callable[[], str]
) -> Iterator[Api]:
    text = DOC.read_text(encoding="utf-8")
    schema = re.search(_BLOCK.format("example-schema"), text, re.S)
    data = re.search(_BLOCK.format("example-data"), text, re.S)
    assert schema and data, "the example schema and data blocks of docs/query-language.md"
    folder = tmp_path_factory.mktemp("doc-schemas")
    (folder / "person.schema.json").write_text(schema[1])
    settings = Settings(database=module_databases(), schemas=(str(folder),))
    with TestClient(create_app(settings, load_gateway(settings, plugins=[]))) as client:
        api = Api(client)
        api.post_all("/api/person", {person["name"]: person for person in json.loads(data[1])})
        yield api


def test_the_documentation_has_examples() -> None:
    assert len(documented_examples()) > 100


@pytest.mark.parametrize(
    ("query", "result"), documented_examples(), ids=[q for q, _ in documented_examples()]
)
def test_documented_example(doc_api: Api, query: str, result: str) -> None:
    error = re.fullmatch(r"400 `(?P<name>[^`]+)` `(?P<code>\w+)`", result)
    if error:
        response = doc_api.get("/api/person", query)
        assert response.status_code == 400, response.text
        assert [(p["name"], p["code"]) for p in response.json()["invalidParams"]] == [
            (error["name"], error["code"])
        ]
    else:
        expected = [] if result == "(none)" else result.split(", ")
        assert doc_api.labels("/api/person", query) == expected


def test_array_prefixes_are_read_from_the_schema_once(tmp_path: Path) -> None:
    """Every path of every plugin objecttype knows which of its prefixes hold arrays (what a
    filter walks through), as the path map itself says."""
    from gateway_core.schemas.paths import schema_paths

    settings = Settings(database=str(tmp_path / "db.json"), plugins=("customer-interaction",))
    gateway = load_gateway(settings)
    checked = 0
    for object_type in gateway.schemas.types.values():
        paths = schema_paths(gateway.schemas, object_type)
        for path, info in paths.items():
            parts = path.split(".")
            prefixes = (".".join(parts[: n + 1]) for n in range(len(parts)))
            assert info.array_prefixes == tuple(p for p in prefixes if paths[p].is_array), path
            checked += 1
    assert checked > 100
