"""The `gateway` command: `schemas check` (and `serve` failing early on broken schemas)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REFERENCE_SCHEMAS, write_json

from gateway_core.app import load_gateway
from gateway_core.cli import main
from gateway_core.config import Settings
from gateway_core.errors import GatewayError
from gateway_core.plugins import discover

DRAFT = "https://json-schema.org/draft/2020-12/schema"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No gateway.yaml and no GATEWAY_* variables of the developer's."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def good_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "good"
    write_json(
        folder / "note.schema.json",
        {
            "$schema": DRAFT,
            "$id": "https://example.org/note.schema.json",
            "type": "object",
            "properties": {"text": {"type": "string"}},
        },
    )
    write_json(
        folder / "tag.schema.json",
        {
            "$schema": "https://docs.commongateway.nl/schemas/Entity.schema.json",
            "$id": "https://example.org/tag.schema.json",
            "version": "0.0.1",
            "type": "object",
            "properties": {"code": {"type": "string", "maxLenght": 5}},
        },
    )
    return folder


@pytest.fixture
def broken_dir(tmp_path: Path, good_dir: Path) -> Path:
    folder = tmp_path / "broken"
    write_json(
        folder / "ok.schema.json",
        {"$schema": DRAFT, "$id": "urn:ok", "type": "object", "properties": {}},
    )
    (folder / "kapot.schema.json").write_text('{"$schema": "' + DRAFT + '", ', encoding="utf-8")
    return folder


def test_check_a_good_folder(good_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check", str(good_dir)]) == 0
    out = capsys.readouterr().out
    assert "ok: 2 schemas valid" in out
    assert "tag.schema.json" in out and "maxLenght" in out  # warnings name file and keyword


def test_check_a_broken_folder(broken_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check", str(broken_dir)]) == 1
    captured = capsys.readouterr()
    assert "kapot.schema.json" in captured.err
    assert captured.err.startswith("error:")
    assert "ok:" not in captured.out


def test_check_a_dangling_ref(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_json(
        tmp_path / "refs" / "a.json",
        {
            "$schema": DRAFT,
            "$id": "urn:a",
            "type": "object",
            "properties": {"b": {"$ref": "https://example.org/b.json"}},
        },
    )
    assert main(["schemas", "check", str(tmp_path / "refs")]) == 1
    err = capsys.readouterr().err
    assert "a.json" in err and "/properties/b/$ref" in err and "https://example.org/b.json" in err


def test_check_several_folders_and_single_files(
    good_dir: Path, broken_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    single = broken_dir / "ok.schema.json"
    assert main(["schemas", "check", str(good_dir), str(single)]) == 0
    assert "ok: 3 schemas valid" in capsys.readouterr().out
    assert main(["schemas", "check", str(good_dir / "missing")]) == 1


@pytest.mark.skipif(not REFERENCE_SCHEMAS.is_dir(), reason="reference schemas not present")
def test_check_the_reference_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check", str(REFERENCE_SCHEMAS)]) == 0
    assert "ok: 27 schemas valid" in capsys.readouterr().out


def test_check_without_folders_uses_the_configuration(
    tmp_path: Path, good_dir: Path, broken_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"schemas: [{good_dir}]\nplugins: []\n", encoding="utf-8")
    assert main(["schemas", "check", "--config", str(config)]) == 0
    assert "ok: 2 schemas valid" in capsys.readouterr().out
    config.write_text(f"schemas: [{good_dir}, {broken_dir}]\nplugins: []\n", encoding="utf-8")
    assert main(["schemas", "check", "--config", str(config)]) == 1
    assert "kapot.schema.json" in capsys.readouterr().err


def test_check_without_folders_uses_the_environment(
    good_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_SCHEMAS", str(good_dir))
    monkeypatch.setenv("GATEWAY_PLUGINS", "")
    assert main(["schemas", "check"]) == 0
    assert "ok: 2 schemas valid" in capsys.readouterr().out


def test_check_with_installed_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    plugins = discover()
    try:
        expected = len(load_gateway(Settings(), plugins=plugins).schemas.types)
    except GatewayError as error:
        pytest.skip(f"an installed plugin is incomplete: {error}")
    if not plugins:
        pytest.skip("no plugin installed")
    names = [argument for plugin in plugins for argument in ("--plugin", plugin.name)]
    assert main(["schemas", "check", *names]) == 0
    assert f"ok: {expected} schemas valid" in capsys.readouterr().out


def test_unknown_plugin_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check", "--plugin", "no-such-plugin"]) == 1
    assert "no-such-plugin" in capsys.readouterr().err


def test_bad_configuration_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("colour: blue\n", encoding="utf-8")
    assert main(["schemas", "check", "--config", str(config)]) == 1
    assert "colour" in capsys.readouterr().err


def test_serve_stops_before_listening_on_broken_schemas(
    broken_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setenv("GATEWAY_PLUGINS", "")
    assert main(["serve", "--schemas", str(broken_dir), "--database", "db.json"]) == 1
    assert "kapot.schema.json" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "usage" in capsys.readouterr().err
