"""The mapping engine (docs/mappings.md): CG's Mapping format on sandboxed Jinja2, every cast,
template errors, references to unknown mappings, and `gateway mapping test`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway_core.cli import main
from gateway_core.mapping import MappingError, Mappings, load_mappings, query_in, query_out

M = "https://example.org/mapping/"


def mapping_file(folder: Path, name: str, mapping: dict[str, str], **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mapping.json"
    path.write_text(json.dumps({"$id": M + name, "title": name, "mapping": mapping, **extra}))
    return path


def apply(tmp_path: Path, mapping: dict[str, str], data: Any, **extra: Any) -> Any:
    mapping_file(tmp_path / "m", "under-test", mapping, **extra)
    mappings = load_mappings([tmp_path / "m"])
    assert mappings.warnings == []
    return mappings.apply(M + "under-test", data)


def test_paths_are_copied_and_other_values_rendered(tmp_path: Path) -> None:
    result = apply(
        tmp_path,
        {
            "name.family": "person.last",
            "tags": "labels",
            "first": "labels.0",
            "kind": "person",  # a word that is not a path renders as itself... unless it is a path
            "label": "klant",
            "greeting": "Dag {{ person.first }} {{ person.last|upper }}",
            "list.0.code": "code",
        },
        {"person": {"first": "Jan", "last": "Jansen"}, "labels": ["a", "b"], "code": 7},
    )
    assert result == {
        "name": {"family": "Jansen"},
        "tags": ["a", "b"],
        "first": "a",
        "kind": {"first": "Jan", "last": "Jansen"},
        "label": "klant",
        "greeting": "Dag Jan JANSEN",
        "list": [{"code": 7}],
    }


def test_pass_through_and_unset(tmp_path: Path) -> None:
    result = apply(
        tmp_path,
        {"b": "a"},
        {"a": 1, "secret": 2, "keep": 3},
        passTrough=True,
        unset=["secret", "a"],
    )
    assert result == {"b": 1, "keep": 3}


@pytest.mark.parametrize(
    ("cast", "value", "expected"),
    [
        ("int", "42", 42),
        ("integer", "7.0", 7),
        ("int", "abc", "abc"),  # left as it is: validation names it
        ("bool", "true", True),
        ("boolean", "0", False),
        ("bool", "", False),
        ("string", 12, "12"),
        ("float", "1.5", 1.5),
        ("array", "x", ["x"]),
        ("json", {"a": 1}, '{"a": 1}'),
        ("jsonToArray", '[1, {"b": 2}]', [1, {"b": 2}]),
        ("nullStringToNull", "null", None),
        ("nullStringToNull", "nul", "nul"),
        ("base64", "hi", "aGk="),
        ("base64ToString", "aGk=", "hi"),
        ("htmlDecode", "&lt;b&gt;", "<b>"),
        ("html", "<b>", "&lt;b&gt;"),
        ("trim", "  x ", "x"),
        ("setNullIfValue==n/a", "n/a", None),
        ("setNullIfValue==n/a", "ok", "ok"),
    ],
)
def test_each_cast(tmp_path: Path, cast: str, value: Any, expected: Any) -> None:
    assert apply(tmp_path, {"out": "in"}, {"in": value}, cast={"out": cast}) == {"out": expected}


@pytest.mark.parametrize(
    ("cast", "value", "kept"),
    [
        ("unsetIfValue==", "", False),
        ("unsetIfValue==", "x", True),
        ("unsetIfValue==in", "in", False),  # the source path was absent: its name rendered
        ("keyCantBeValue", "out", False),
        ("keyCantBeValue", "other", True),
    ],
)
def test_conditional_unset_casts(tmp_path: Path, cast: str, value: Any, kept: bool) -> None:
    result = apply(tmp_path, {"out": "in"}, {"in": value}, cast={"out": cast})
    assert ("out" in result) is kept


def test_casts_run_in_order_and_a_hash_target_replaces_the_result(tmp_path: Path) -> None:
    assert apply(
        tmp_path,
        {"n": "missing", "#": "[{{ 1 + 1 }}, 3]"},
        {},
        cast={"n": ["unsetIfValue==missing", "int"], "#": "jsonToArray"},
    ) == [2, 3]


def test_twig_features_we_offer(tmp_path: Path) -> None:
    helper = mapping_file(tmp_path / "m", "helper", {"v": "{{ value * 10 }}"}, cast={"v": "int"})
    assert helper.exists()
    result = apply(
        tmp_path,
        {
            "mapped": "{{ map('" + M + "helper', one)|json_encode }}",
            "many": "{{ map('" + M + "helper', items, true)|json_encode }}",
            "fallback": "{{ absent.deeper|default('none') }}",
            "empty": "{{ blank|default('was empty') }}",
            "joined": "{{ ([1]|merge([2]))|json_encode }}",
            "dotted": "{{ attribute(_context, 'a&#46;b') }}",
            "branch": "{% if x %}yes{% elseif y %}y{% else %}no{% endif %}",
        },
        {
            "one": {"value": 2},
            "items": [{"value": 1}, {"value": 3}],
            "blank": "",
            "a.b": "ab",
            "y": 1,
        },
        cast={"mapped": "jsonToArray", "many": "jsonToArray", "joined": "jsonToArray"},
    )
    assert result == {
        "mapped": {"v": 20},
        "many": [{"v": 10}, {"v": 30}],
        "fallback": "none",
        "empty": "was empty",
        "joined": [1, 2],
        "dotted": "ab",
        "branch": "y",
    }


def test_templates_run_sandboxed(tmp_path: Path) -> None:
    """Unsafe attributes render as nothing: no class, globals or builtins reach the output."""
    result = apply(
        tmp_path,
        {
            "mro": "{{ value.__class__.__mro__ }}",
            "globals": "{{ value.format.__globals__ }}",
            "builtins": "{{ lipsum.__globals__ }}",
        },
        {"value": "s"},
    )
    assert result == {"mro": "", "globals": "", "builtins": ""}
    with pytest.raises(MappingError) as error:
        apply(tmp_path, {"x": "{% for i in range(10**9) %}{% endfor %}"}, {})
    assert error.value.target == "x"  # ranges are bounded


def test_a_template_error_names_the_mapping_and_the_target(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as error:
        apply(tmp_path, {"ok": "a", "bad": "{{ 1 / 0 }}"}, {"a": 1})
    assert error.value.mapping == M + "under-test"
    assert error.value.target == "bad"
    assert "ZeroDivisionError" in str(error.value) or "division" in str(error.value)
    with pytest.raises(MappingError, match="jsonToArray: not JSON"):
        apply(tmp_path, {"x": "{nope"}, {}, cast={"x": "jsonToArray"})


def test_a_template_that_does_not_compile_is_reported_and_fails_when_used(tmp_path: Path) -> None:
    mapping_file(tmp_path / "m", "broken", {"fine": "a", "twig": "{{ list|filter(v => v.x) }}"})
    mappings = load_mappings([tmp_path / "m"])
    [(source, pointer, message)] = mappings.warnings
    assert source.endswith("broken.mapping.json")
    assert pointer == "/mapping/twig"
    assert "Jinja2" in message
    with pytest.raises(MappingError) as error:
        mappings.apply(M + "broken", {"a": 1})
    assert error.value.target == "twig"


def test_a_reference_to_an_unknown_mapping_is_reported(tmp_path: Path) -> None:
    mapping_file(tmp_path / "m", "caller", {"x": "{{ map('" + M + "nowhere', a)|json_encode }}"})
    mappings = load_mappings([tmp_path / "m"])
    assert mappings.warnings == [
        (
            str(tmp_path / "m" / "caller.mapping.json"),
            "/mapping/x",
            f"map() refers to the unknown mapping '{M}nowhere'",
        )
    ]
    with pytest.raises(MappingError, match="no mapping has this \\$id"):
        mappings.apply(M + "caller", {"a": {}})
    with pytest.raises(MappingError):
        Mappings().apply(M + "nowhere", {})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"mapping": {"x": 1}}, "must be a string"),
        ({"mapping": {"x": "a"}, "cast": {"x": "toUpper"}}, "unknown cast"),
        ({"mapping": []}, "must map target paths"),
        ({"mapping": {}, "unset": "x"}, "list of paths"),
    ],
)
def test_broken_mapping_files_stop_start_up(
    tmp_path: Path, document: dict[str, Any], problem: str
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "x.mapping.json").write_text(json.dumps({"$id": M + "x", **document}))
    with pytest.raises(Exception, match=problem) as error:
        load_mappings([folder])
    assert "x.mapping.json" in str(error.value)


def test_query_parameters_in_and_out() -> None:
    params = [("a.b", "1"), ("c[]", "x"), ("c[]", "y"), ("_limit", "5")]
    assert query_in(params) == {"a.b": "1", "c[]": ["x", "y"], "_limit": "5"}
    assert query_out({"a.b": "1", "c[]": ["x", "y"], "_order": {"p.q": "desc"}, "n": 3}) == [
        ("a.b", "1"),
        ("c[]", "x"),
        ("c[]", "y"),
        ("_order[p.q]", "desc"),
        ("n", "3"),
    ]


def test_gateway_mapping_test_prints_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mapping_file(
        tmp_path / "m",
        "cli",
        {"naam": "{{ voornaam }} {{ achternaam }}", "n": "nr"},
        cast={"n": "int"},
    )
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"voornaam": "Jan", "achternaam": "Jansen", "nr": "8"}))
    assert main(["mapping", "test", str(path), str(data), "--plugin", "customer-interaction"]) == 0
    assert json.loads(capsys.readouterr().out) == {"naam": "Jan Jansen", "n": 8}
    klant = tmp_path / "klant.json"
    klant.write_text(
        json.dumps({"klantnummer": "12", "achternaam": "Jansen", "subjectType": "persoon"})
    )
    reference = "https://commongateway.nl/mapping/klant.klantToPartij.mapping.json"
    assert main(["mapping", "test", reference, str(klant), "--plugin", "customer-interaction"]) == 0
    partij = json.loads(capsys.readouterr().out)
    assert partij["nummer"] == 12
    assert partij["persoon"] == {"achternaam": "Jansen"}
    bad = mapping_file(tmp_path / "m", "bad", {"x": "{{ 1 / 0 }}"})
    assert main(["mapping", "test", str(bad), str(data), "--plugin", "customer-interaction"]) == 1
    assert "at 'x'" in capsys.readouterr().err


def test_an_int_cast_is_exact_and_bounded(tmp_path: Path) -> None:
    """A long number is not rounded through a float, and one beyond 64 bits (more than JSON
    stores and PostgreSQL's bigint hold) is not converted: left as text, validation refuses it."""
    cast = {"n": "int"}
    assert apply(tmp_path, {"n": "v"}, {"v": "9007199254740993"}, cast=cast) == {
        "n": 9007199254740993
    }
    assert apply(tmp_path, {"n": "v"}, {"v": "-42"}, cast=cast) == {"n": -42}
    huge = "97189886833911809129379407820"
    assert apply(tmp_path, {"n": "v"}, {"v": huge}, cast=cast) == {"n": huge}
