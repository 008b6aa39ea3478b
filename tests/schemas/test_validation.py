"""Validation: every problem at once, dotted names, defaults, readOnly and immutable."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BOOK_ID, valid_book, write_json

from gateway_core.errors import InvalidParam
from gateway_core.schemas.registry import load_schemas
from gateway_core.schemas.validation import ObjectValidator


@pytest.fixture
def validator(book_schemas: Path) -> ObjectValidator:
    schemas = load_schemas([book_schemas])
    return ObjectValidator(schemas, schemas.get(BOOK_ID))


def pairs(problems: list[InvalidParam]) -> set[tuple[str, str]]:
    return {(p.name, p.code) for p in problems}


def test_a_valid_book_has_no_problems(validator: ObjectValidator) -> None:
    assert validator.check(validator.with_defaults(valid_book())) == []


def test_every_keyword_is_reported_at_once_with_dotted_names(validator: ObjectValidator) -> None:
    document = valid_book(
        title="",
        isbn="978-90",
        genre="thriller",
        pages=0,
        available="yes",
        published="2024-13-01",
        lastPrinted="2024-05-01T09:30:00",
        website="not a uri",
        contact="nobody",
        publisher={"country": "NL"},
        chapters=[{"title": "Fine"}, {"title": "x" * 21, "pages": 0}, {"pages": 2}],
        tags=["ok", 5],
    )
    problems = validator.check(document)
    assert pairs(problems) == {
        ("title", "minLength"),
        ("isbn", "pattern"),
        ("genre", "enum"),
        ("pages", "minimum"),
        ("available", "type"),
        ("published", "format"),
        ("lastPrinted", "format"),
        ("website", "format"),
        ("contact", "format"),
        ("publisher.name", "required"),
        ("chapters.1.title", "maxLength"),
        ("chapters.1.pages", "minimum"),
        ("chapters.2.title", "required"),
        ("tags.1", "type"),
    }
    assert all(p.reason for p in problems)
    assert problems == sorted(problems, key=lambda p: (p.name, p.code))


def test_maximum_and_max_length(validator: ObjectValidator) -> None:
    problems = validator.check(valid_book(pages=5001, title="t" * 51, publisher={"name": "n" * 31}))
    assert pairs(problems) == {
        ("pages", "maximum"),
        ("title", "maxLength"),
        ("publisher.name", "maxLength"),
    }


def test_missing_required_properties_are_each_named(validator: ObjectValidator) -> None:
    assert pairs(validator.check({})) == {("title", "required"), ("isbn", "required")}


def test_wrong_types_of_containers(validator: ObjectValidator) -> None:
    problems = validator.check(valid_book(publisher="De Ruyter", chapters={"title": "x"}))
    assert pairs(problems) == {("publisher", "type"), ("chapters", "type")}


def test_enum_and_format_reasons_explain_what_is_expected(validator: ObjectValidator) -> None:
    problems = {p.name: p for p in validator.check(valid_book(genre="x", published="soon"))}
    assert "'novel'" in problems["genre"].reason
    assert "YYYY-MM-DD" in problems["published"].reason


def test_unknown_properties_are_rejected_at_every_level(validator: ObjectValidator) -> None:
    document = valid_book(
        extra=1,
        publisher={"name": "P", "ceo": "Q", "address": {"city": "A", "planet": "Earth"}},
        chapters=[{"title": "a"}, {"title": "b", "words": 100}],
    )
    assert pairs(validator.check(document)) == {
        ("extra", "additionalProperties"),
        ("publisher.ceo", "additionalProperties"),
        ("publisher.address.planet", "additionalProperties"),
        ("chapters.1.words", "additionalProperties"),
    }


def test_defaults_are_applied_also_nested(validator: ObjectValidator) -> None:
    document = valid_book(chapters=[{"title": "a"}, {"title": "b", "draft": True}])
    result = validator.with_defaults(document)
    assert result["available"] is True
    assert result["publisher"]["country"] == "NL"
    assert [c["draft"] for c in result["chapters"]] == [False, True]
    assert "draft" not in document["chapters"][0]  # the input is not changed


def test_defaults_do_not_overwrite_or_invent_objects(validator: ObjectValidator) -> None:
    document = {"title": "T", "isbn": "9789038896182", "available": False}
    result = validator.with_defaults(document)
    assert result == {"title": "T", "isbn": "9789038896182", "available": False}


TREE_ID = "https://example.com/tree.schema.json"
TREE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": TREE_ID,
    "title": "Tree",
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "plain": {"type": "object", "properties": {"note": {"type": "string"}}},
        "root": {"$ref": "#/$defs/node"},
    },
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "open": {"type": "boolean", "default": False},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
        }
    },
}


def test_defaults_reach_through_references_and_recursion(tmp_path: Path) -> None:
    write_json(tmp_path / "tree.schema.json", TREE_SCHEMA)
    schemas = load_schemas([tmp_path])
    validator = ObjectValidator(schemas, schemas.get(TREE_ID))
    deep = {"name": "c", "children": [{"name": "d", "open": True}, {"name": "e"}]}
    document = {"label": "t", "root": {"name": "a", "children": [{"name": "b"}, deep]}}
    result = validator.with_defaults(document)
    root = result["root"]
    assert root["open"] is False
    assert [child["open"] for child in root["children"]] == [False, False]
    assert [child["open"] for child in root["children"][1]["children"]] == [True, False]
    assert "open" not in document["root"]  # the input is not changed
    complete = {"label": "t", "plain": {"note": "n"}, "root": {"name": "a", "open": True}}
    assert validator.with_defaults(complete) is complete  # nothing missing: no copy


def test_read_only_properties_cannot_be_written(validator: ObjectValidator) -> None:
    problems = validator.check(valid_book(catalogNumber="C-1"))
    assert pairs(problems) == {("catalogNumber", "readOnly")}
    previous = valid_book(catalogNumber="C-1")
    assert validator.check(valid_book(catalogNumber="C-2"), previous) != []
    assert validator.check(valid_book(catalogNumber="C-1"), previous) == []


def test_immutable_properties_cannot_change_after_creation(validator: ObjectValidator) -> None:
    previous = valid_book()
    assert validator.check(valid_book(isbn="9780000000002")) == []  # on creation any value
    problems = validator.check(valid_book(isbn="9780000000002"), previous)
    assert pairs(problems) == {("isbn", "immutable")}
    assert validator.check(valid_book(), previous) == []


def validator_for_schema(tmp_path: Path, schema: dict[str, object]) -> ObjectValidator:
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x", **schema}
    write_json(tmp_path / "open" / "x.json", document)
    schemas = load_schemas([tmp_path / "open"])
    return ObjectValidator(schemas, schemas.get("urn:x"))


def test_pattern_properties_are_no_unknown_properties(tmp_path: Path) -> None:
    validator = validator_for_schema(
        tmp_path,
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": False,
        },
    )
    assert validator.check({"a": "1", "x-note": "ok"}) == []
    problems = validator.check({"a": "1", "x-note": "ok", "b": 1, "x-bad": 2})
    assert pairs(problems) == {("b", "additionalProperties"), ("x-bad", "type")}


def test_unevaluated_properties_count_properties_of_subschemas(tmp_path: Path) -> None:
    validator = validator_for_schema(
        tmp_path,
        {
            "type": "object",
            "allOf": [{"properties": {"b": {"type": "string"}}}],
            "properties": {"a": {"type": "string"}},
            "unevaluatedProperties": False,
        },
    )
    assert validator.check({"a": "1", "b": "2"}) == []
    assert pairs(validator.check({"a": "1", "b": "2", "c": 3})) == {("c", "additionalProperties")}


def test_open_objects_accept_unknown_properties(tmp_path: Path) -> None:
    validator = validator_for_schema(
        tmp_path,
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": True,
        },
    )
    assert validator.check({"a": "1", "anything": [1, 2]}) == []
