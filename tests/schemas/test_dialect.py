"""Translating Common Gateway's Entity dialect (and closing objects in both dialects)."""

from __future__ import annotations

from typing import Any

from gateway_core.schemas.dialect import (
    CG_ENTITY,
    DRAFT_2020_12,
    is_non_schema_cg_document,
    is_schema_document,
    translate,
)


def cg(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "$schema": CG_ENTITY,
        "$id": "https://example.org/thing.schema.json",
        "version": "0.0.1",
        "title": "Thing",
        "type": "object",
        "properties": properties,
        **extra,
    }


def messages(warnings: list[tuple[str, str]]) -> dict[str, str]:
    return dict(warnings)


def test_cg_dialect_becomes_draft_2020_12_and_input_is_untouched() -> None:
    document = cg({"a": {"type": "string", "required": True}})
    schema, _ = translate(document)
    assert schema["$schema"] == DRAFT_2020_12
    assert document["$schema"] == CG_ENTITY
    assert document["properties"]["a"]["required"] is True


def test_property_required_true_is_merged_into_the_object_list() -> None:
    schema, warnings = translate(
        cg(
            {
                "a": {"type": "string", "required": True},
                "b": {"type": "string", "required": False},
                "c": {"type": "string", "required": True},
            },
            required=["c"],
        )
    )
    assert sorted(schema["required"]) == ["a", "c"]
    assert schema["required"].count("c") == 1
    assert all("required" not in prop for prop in schema["properties"].values())
    assert warnings == []


def test_required_false_everywhere_leaves_no_required_list() -> None:
    schema, _ = translate(cg({"a": {"type": "string", "required": False}}))
    assert "required" not in schema


def test_string_defaults_are_coerced_by_the_property_type() -> None:
    schema, warnings = translate(
        cg(
            {
                "yes": {"type": "boolean", "default": "true"},
                "no": {"type": "boolean", "default": "False"},
                "count": {"type": "integer", "default": "7"},
                "ratio": {"type": "number", "default": "0.5"},
                "text": {"type": "string", "default": "Burger"},
                "broken": {"type": "integer", "default": "seven"},
            }
        )
    )
    props = schema["properties"]
    assert props["yes"]["default"] is True
    assert props["no"]["default"] is False
    assert props["count"]["default"] == 7 and isinstance(props["count"]["default"], int)
    assert props["ratio"]["default"] == 0.5
    assert props["text"]["default"] == "Burger"
    assert props["broken"]["default"] == "seven"
    assert "/properties/broken/default" in messages(warnings)


def test_cg_types_datetime_and_date_become_string_formats() -> None:
    schema, _ = translate(cg({"at": {"type": "datetime"}, "on": {"type": "date"}}))
    assert schema["properties"]["at"] == {"type": "string", "format": "date-time"}
    assert schema["properties"]["on"] == {"type": "string", "format": "date"}


def test_cg_formats_datetime_and_url_are_renamed() -> None:
    schema, _ = translate(
        cg(
            {
                "at": {"type": "string", "format": "datetime"},
                "link": {"type": "string", "format": "url"},
                "bsn": {"type": "string", "format": "bsn"},
            }
        )
    )
    assert schema["properties"]["at"]["format"] == "date-time"
    assert schema["properties"]["link"]["format"] == "uri"
    assert schema["properties"]["bsn"]["format"] == "bsn"


def test_array_with_properties_ref_gets_items() -> None:
    ref = "https://example.org/other.schema.json"
    schema, warnings = translate(
        cg({"many": {"type": "array", "properties": {"type": "object", "$ref": ref}}})
    )
    many = schema["properties"]["many"]
    assert many["items"] == {"$ref": ref}
    assert "properties" not in many
    assert "additionalProperties" not in many
    assert "/properties/many/properties" in messages(warnings)


def test_empty_enum_is_dropped_with_a_warning() -> None:
    schema, warnings = translate(cg({"kind": {"type": "string", "enum": []}}))
    assert "enum" not in schema["properties"]["kind"]
    assert "empty enum" in messages(warnings)["/properties/kind/enum"]


def test_required_names_that_are_no_property_are_dropped_with_a_warning() -> None:
    schema, warnings = translate(cg({"a": {"type": "string"}}, required=["a", "ghost"]))
    assert schema["required"] == ["a"]
    assert "'ghost'" in messages(warnings)["/required"]


def test_misspelled_keyword_is_warned_about_and_kept_harmless() -> None:
    schema, warnings = translate(cg({"code": {"type": "string", "maxLenght": 20}}))
    message = messages(warnings)["/properties/code/maxLenght"]
    assert "maxLenght" in message and "maxLength" in message
    assert "maxLength" not in schema["properties"]["code"]


def test_misspelling_is_also_warned_in_standard_json_schema() -> None:
    _, warnings = translate(
        {
            "$schema": DRAFT_2020_12,
            "type": "object",
            "properties": {"a": {"type": "string", "minLenght": 2}},
        }
    )
    assert "/properties/a/minLenght" in messages(warnings)


def test_objects_are_closed_at_every_level() -> None:
    schema, _ = translate(
        {
            "$schema": DRAFT_2020_12,
            "type": "object",
            "properties": {
                "nested": {"type": "object", "properties": {"x": {"type": "string"}}},
                "list": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"y": {"type": "string"}}},
                },
            },
        }
    )
    assert schema["additionalProperties"] is False
    assert schema["properties"]["nested"]["additionalProperties"] is False
    assert schema["properties"]["list"]["items"]["additionalProperties"] is False


def test_objects_that_declare_openness_stay_open() -> None:
    base = {"type": "object", "properties": {"x": {"type": "string"}}}
    for keyword, value in (
        ("additionalProperties", True),
        ("additionalProperties", {"type": "string"}),
        ("unevaluatedProperties", True),
        ("patternProperties", {"^x-": {"type": "string"}}),
    ):
        schema, _ = translate({"$schema": DRAFT_2020_12, **base, keyword: value})
        assert schema[keyword] == value, keyword
        if keyword != "additionalProperties":
            assert "additionalProperties" not in schema, keyword


def test_cg_property_with_ref_is_not_closed_itself() -> None:
    ref = "https://example.org/other.schema.json"
    schema, _ = translate(cg({"other": {"type": "object", "$ref": ref}}))
    assert schema["properties"]["other"] == {"type": "object", "$ref": ref}
    assert schema["additionalProperties"] is False


def test_schema_documents_are_recognised() -> None:
    assert is_schema_document(cg({}))
    assert is_schema_document({"$schema": "http://json-schema.org/draft-07/schema#"})
    assert is_schema_document({"type": "object", "properties": {}})
    mapping = {
        "$schema": "https://docs.commongateway.nl/schemas/Mapping.schema.json",
        "mapping": {},
    }
    assert not is_schema_document(mapping)
    assert is_non_schema_cg_document(mapping)
    collection = {"$schema": "https://docs.commongateway.nl/schemas/CollectionEntity.schema.json"}
    assert not is_schema_document(collection)
    assert is_non_schema_cg_document(collection)
    assert not is_schema_document([{"id": 1}])
    assert not is_schema_document({"name": "data, not a schema"})


def test_members_of_compositions_are_not_closed() -> None:
    def part() -> dict[str, Any]:
        return {"type": "object", "properties": {"b": {"type": "string"}}}

    schema, _ = translate(
        {
            "$schema": DRAFT_2020_12,
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "allOf": [part()],
            "if": part(),
            "then": part(),
            "prefixItems": [part()],
        }
    )
    assert "additionalProperties" not in schema  # it composes subschemas
    for member in (schema["allOf"][0], schema["if"], schema["then"]):
        assert "additionalProperties" not in member
    assert schema["prefixItems"][0]["additionalProperties"] is False  # a whole array element
