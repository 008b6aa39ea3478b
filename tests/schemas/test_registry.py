"""Loading schema folders: the 27 reference files, version gating, broken files, offline $ref."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REFERENCE_SCHEMAS, example, write_json

from gateway_core.errors import SchemaError
from gateway_core.schemas.registry import ObjectType, SchemaSet, load_schemas
from gateway_core.schemas.validation import ObjectValidator

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REFERENCE_FILES = (
    sorted(p.name for p in REFERENCE_SCHEMAS.glob("*.json")) if REFERENCE_SCHEMAS.is_dir() else []
)

_WRONG_VALUE = {
    "string": 12345,
    "integer": "x",
    "number": "x",
    "boolean": "x",
    "object": "x",
    "array": "x",
}


def wrong_property(object_type: ObjectType) -> tuple[str, Any] | None:
    """A declared property and a value of a type it does not accept."""
    props = object_type.schema.get("properties", {})
    for name in [*object_type.schema.get("required", []), *props]:
        kind = props.get(name, {}).get("type")
        if isinstance(kind, str) and kind in _WRONG_VALUE:
            return name, _WRONG_VALUE[kind]
    return None


@pytest.fixture(scope="module")
def reference_set() -> SchemaSet:
    if not REFERENCE_SCHEMAS.is_dir():
        pytest.skip(f"reference schemas not found at {REFERENCE_SCHEMAS}")
    return load_schemas([REFERENCE_SCHEMAS])


def by_file(schemas: SchemaSet, file_name: str) -> ObjectType:
    return next(t for t in schemas.types.values() if Path(t.source).name == file_name)


# -- the reference bundle -----------------------------------------------------------------------


def test_all_27_reference_files_load_unchanged(reference_set: SchemaSet) -> None:
    assert len(REFERENCE_FILES) == 27
    assert len(reference_set.types) == 27
    assert sorted(Path(t.source).name for t in reference_set.types.values()) == REFERENCE_FILES
    for file_name in REFERENCE_FILES:
        document = json.loads((REFERENCE_SCHEMAS / file_name).read_text(encoding="utf-8"))
        assert document["$id"] in reference_set.types, file_name
        assert reference_set.get(document["$id"]).version == document["version"]


def test_reference_quirks_are_kept(reference_set: SchemaSet) -> None:
    persoon = reference_set.get("https://commongateway.nl/klant.persoonsnaam.schema.json")
    assert Path(persoon.source).name == "klant.persoon.schema.json"
    formulier = reference_set.get("https://commongateway.nl/klant.taak.formulier.schema.json")
    assert Path(formulier.source).name == "klant.taak.formulier.schma.json"
    bericht = reference_set.get("https://commongateway.nl/klant.bericht.schema.json")
    assert any("maxLenght" in message for _, message in bericht.warnings)
    partij = reference_set.get("https://commongateway.nl/klant.partij.schema.json")
    assert partij.schema["properties"]["indicatieActief"]["default"] is True
    assert partij.schema["properties"]["indicatieGeheimhouding"]["default"] is False
    assert "externeIdentificatie" not in partij.schema["required"]
    klantcontact = reference_set.get("https://commongateway.nl/klant.klantcontact.schema.json")
    assert "kanaal" in klantcontact.schema["required"]  # written as `"required": true`
    assert klantcontact.schema["properties"]["plaatsgevondenOp"]["format"] == "date-time"


@pytest.mark.parametrize("file_name", REFERENCE_FILES)
def test_every_reference_file_accepts_a_valid_and_rejects_an_invalid_payload(
    reference_set: SchemaSet, file_name: str
) -> None:
    object_type = by_file(reference_set, file_name)
    validator = ObjectValidator(reference_set, object_type)
    payload = example(reference_set, object_type.schema, object_type.id)
    assert validator.check(validator.with_defaults(payload)) == []

    unknown = validator.check({**payload, "notAProperty": 1})
    assert [(p.name, p.code) for p in unknown] == [("notAProperty", "additionalProperties")]

    wrong = wrong_property(object_type)
    if wrong is not None:
        name, value = wrong
        problems = validator.check({**payload, name: value})
        assert (name, "type") in [(p.name, p.code) for p in problems]


def test_missing_required_reference_fields_are_each_reported(reference_set: SchemaSet) -> None:
    land = reference_set.get("https://commongateway.nl/klant.land.schema.json")
    problems = ObjectValidator(reference_set, land).check({})
    assert {(p.name, p.code) for p in problems} == {
        ("einddatumLand", "required"),
        ("ingangsdatumLand", "required"),
        ("landcode", "required"),
        ("landnaam", "required"),
    }


# -- version gating -----------------------------------------------------------------------------


def versioned(version: str, *names: str) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": "https://example.org/thing.schema.json",
        "version": version,
        "title": f"Thing {version}",
        "type": "object",
        "properties": {name: {"type": "string"} for name in names},
    }


@pytest.mark.parametrize("order", ["higher first", "higher last"])
def test_higher_version_wins_regardless_of_order(tmp_path: Path, order: str) -> None:
    old, new = versioned("1.9.0", "a"), versioned("1.10.0", "a", "b")
    first, second = (new, old) if order == "higher first" else (old, new)
    write_json(tmp_path / "a.json", first)
    write_json(tmp_path / "b.json", second)
    thing = load_schemas([tmp_path]).get("https://example.org/thing.schema.json")
    assert thing.version == "1.10.0"
    assert set(thing.schema["properties"]) == {"a", "b"}


def test_higher_version_wins_across_folders(tmp_path: Path) -> None:
    write_json(tmp_path / "one" / "thing.json", versioned("2.0.0", "a", "b"))
    write_json(tmp_path / "two" / "thing.json", versioned("1.0.0", "a"))
    thing = load_schemas([tmp_path / "one", tmp_path / "two"]).get(
        "https://example.org/thing.schema.json"
    )
    assert thing.version == "2.0.0"


def test_equal_version_with_other_content_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", versioned("1.0.0", "a"))
    write_json(tmp_path / "b.json", versioned("1.0.0", "a", "b"))
    with pytest.raises(SchemaError) as caught:
        load_schemas([tmp_path])
    message = str(caught.value)
    assert "b.json" in message and "a.json" in message
    assert "1.0.0" in message


def test_equal_version_with_same_content_is_fine(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", versioned("1.0.0", "a"))
    write_json(tmp_path / "copy" / "a.json", versioned("1.0.0", "a"))
    assert len(load_schemas([tmp_path]).types) == 1


# -- broken files -------------------------------------------------------------------------------


def good(schema_id: str = "https://example.org/good.schema.json", **props: Any) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": schema_id,
        "type": "object",
        "properties": props or {"a": {"type": "string"}},
    }


def load_error(folder: Path) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        load_schemas([folder])
    return caught.value


def test_invalid_json_names_file_pointer_and_cause(tmp_path: Path) -> None:
    write_json(tmp_path / "good.json", good())
    (tmp_path / "broken.json").write_text('{"type": "object",\n  "properties": {', encoding="utf-8")
    error = load_error(tmp_path)
    assert error.source.endswith("broken.json")
    assert error.pointer == "/"
    assert "invalid JSON" in error.cause and "line 2" in error.cause
    assert "broken.json" in str(error)


def test_unresolvable_ref_names_the_pointer_to_the_ref(tmp_path: Path) -> None:
    missing = "https://example.org/missing.schema.json"
    write_json(tmp_path / "dangling.json", good(other={"type": "object", "$ref": missing}))
    error = load_error(tmp_path)
    assert error.source.endswith("dangling.json")
    assert error.pointer == "/properties/other/$ref"
    assert missing in error.cause
    assert "dangling.json" in str(error) and "/properties/other/$ref" in str(error)


def test_invalid_schema_names_the_keyword(tmp_path: Path) -> None:
    write_json(tmp_path / "typo.json", good(a={"type": 5}))
    error = load_error(tmp_path)
    assert error.source.endswith("typo.json")
    assert error.pointer == "/properties/a/type"
    assert "invalid schema" in error.cause


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope")
    assert "does not exist" in error.cause


def test_non_schema_json_files_are_skipped(tmp_path: Path) -> None:
    write_json(tmp_path / "good.json", good())
    write_json(
        tmp_path / "klant.mapping.json",
        {
            "$schema": "https://docs.commongateway.nl/schemas/Mapping.schema.json",
            "$id": "https://example.org/x.mapping.json",
            "mapping": {"a": "b"},
        },
    )
    write_json(tmp_path / "data.json", [{"id": 1, "name": "a data file"}])
    write_json(tmp_path / "settings.json", {"name": "not a schema"})
    assert list(load_schemas([tmp_path]).types) == ["https://example.org/good.schema.json"]


def test_schema_without_id_gets_one_from_the_file_name(tmp_path: Path) -> None:
    document = good()
    del document["$id"]
    write_json(tmp_path / "widget.schema.json", document)
    assert list(load_schemas([tmp_path]).types) == ["urn:gateway:schema:widget.schema"]


def test_refs_between_files_resolve_by_id(tmp_path: Path) -> None:
    write_json(
        tmp_path / "a.json",
        good("https://example.org/a.json", b={"$ref": "https://example.org/b.json"}),
    )
    write_json(tmp_path / "b.json", good("https://example.org/b.json"))
    schemas = load_schemas([tmp_path])
    target, holder = schemas.resolve("https://example.org/b.json", "https://example.org/a.json")
    assert holder == "https://example.org/b.json"
    assert target["properties"] == {"a": {"type": "string"}}


def test_unknown_https_ref_fails_at_once_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("schema loading tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    write_json(
        tmp_path / "remote.json", good(x={"$ref": "https://json.schemastore.org/package.json"})
    )
    started = time.perf_counter()
    error = load_error(tmp_path)
    assert time.perf_counter() - started < 2
    assert "https://json.schemastore.org/package.json" in error.cause
