"""Settings: defaults < gateway.yaml < GATEWAY_* environment < command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_core.config import Settings, load_settings
from gateway_core.errors import ConfigError


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./gateway.yaml of the developer's may leak into these tests."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.port == 8000 and settings.default_limit == 30 and settings.plugins is None


def test_precedence_defaults_file_environment_command_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "port: 8100\nhost: 0.0.0.0\nmax_body_bytes: 2048\nlog_level: debug\n"
    )
    environ = {"GATEWAY_PORT": "8200", "GATEWAY_HOST": "10.0.0.1"}
    settings = load_settings({"port": 8300}, environ=environ, config_file=str(config))
    assert settings.port == 8300  # command line beats environment
    assert settings.host == "10.0.0.1"  # environment beats the file
    assert settings.max_body_bytes == 2048  # the file beats the default
    assert settings.log_level == "debug"
    assert settings.default_limit == 30  # the default
    assert load_settings(environ=environ, config_file=str(config)).port == 8200
    assert load_settings(environ={}, config_file=str(config)).port == 8100


def test_none_on_the_command_line_means_not_given(tmp_path: Path) -> None:
    settings = load_settings({"port": None, "host": None}, environ={"GATEWAY_PORT": "9000"})
    assert settings.port == 9000 and settings.host == "127.0.0.1"


def test_gateway_yaml_in_the_working_directory_is_read() -> None:
    Path("gateway.yaml").write_text("port: 8123\n", encoding="utf-8")
    assert load_settings(environ={}).port == 8123


def test_gateway_config_environment_variable_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "port: 8124\n")
    assert load_settings(environ={"GATEWAY_CONFIG": str(config)}).port == 8124


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(environ={}, config_file=str(tmp_path / "missing.yaml"))


def test_relative_paths_in_the_file_are_relative_to_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "database: data/db.json\nschemas: [schemas, /abs/schemas]\n")
    settings = load_settings(environ={}, config_file=str(config))
    assert settings.database == str(tmp_path / "data" / "db.json")
    assert settings.schemas == (str(tmp_path / "schemas"), "/abs/schemas")


def test_gateway_schemas_is_split_on_the_path_separator() -> None:
    environ = {"GATEWAY_SCHEMAS": os.pathsep.join(["/a/schemas", "/b/schemas", ""])}
    assert load_settings(environ=environ).schemas == ("/a/schemas", "/b/schemas")
    assert load_settings(environ={"GATEWAY_PLUGINS": "one"}).plugins == ("one",)


def test_command_line_lists_replace_environment_lists() -> None:
    settings = load_settings({"schemas": ["/cli"]}, environ={"GATEWAY_SCHEMAS": "/env"})
    assert settings.schemas == ("/cli",)


def test_hyphenated_keys_in_the_file_are_accepted(tmp_path: Path) -> None:
    config = write_config(tmp_path, "max-body-bytes: 10\n")
    assert load_settings(environ={}, config_file=str(config)).max_body_bytes == 10


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GATEWAY_PORT": "eighty"}, "port"),
        ({"GATEWAY_PORT": "-1"}, "port"),
        ({"GATEWAY_MAX_BODY_BYTES": "0"}, "max_body_bytes"),
        ({"GATEWAY_ANSWER_CACHE_MB": "-1"}, "'answer_cache_mb' must be 0 or more"),
        ({"GATEWAY_COUNT_MAX_AGE": "soon"}, "'count_max_age' must be an integer"),
        ({"GATEWAY_DEFAULT_LIMIT": "50", "GATEWAY_MAX_LIMIT": "10"}, "default_limit"),
    ],
)
def test_bad_environment_values_are_config_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    "text, message",
    [
        ("port: [1, 2]\n", "port"),
        ("host: 12\n", "host"),
        ("schemas: 5\n", "schemas"),
        ("- just\n- a list\n", "mapping"),
        ("port: [unclosed\n", "YAML"),
    ],
)
def test_bad_file_values_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    config = write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(environ={}, config_file=str(config))
    assert "gateway.yaml" in str(caught.value)


def test_bad_command_line_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="command line"):
        load_settings({"port": "x"}, environ={})


def test_unknown_keys_are_config_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path, "port: 8000\ndatabse: x.json\n")
    with pytest.raises(ConfigError, match="databse"):
        load_settings(environ={}, config_file=str(config))
    with pytest.raises(ConfigError, match="colour"):
        load_settings({"colour": "blue"}, environ={})


def test_kept_totals_may_be_switched_off() -> None:
    assert load_settings(environ={"GATEWAY_COUNT_MAX_AGE": "0"}).count_max_age == 0
    assert load_settings(environ={}).count_max_age == 5


def test_the_answer_cache_may_be_switched_off() -> None:
    assert load_settings(environ={"GATEWAY_ANSWER_CACHE_MB": "0"}).answer_cache_mb == 0
    assert load_settings(environ={}).answer_cache_mb == 64


def test_unknown_gateway_environment_variables_are_ignored() -> None:
    assert load_settings(environ={"GATEWAY_COLOUR": "blue"}) == Settings()


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(environ={}, config_file=str(write_config(tmp_path, ""))) == Settings()
