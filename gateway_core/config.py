"""Settings, from four sources: defaults < gateway.yaml < GATEWAY_* environment < command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from gateway_core.errors import ConfigError
from gateway_core.sections import (
    AuthConfig,
    CorsConfig,
    SourceConfig,
    WebhookConfig,
    expand_variables,
    read_action_overrides,
    read_auth,
    read_cors,
    read_sources,
    read_webhooks,
)

DEFAULT_CONFIG_FILE = "gateway.yaml"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    database: str = "data/gateway.json"
    schemas: tuple[str, ...] = ()
    plugins: tuple[str, ...] | None = None  # None: every installed plugin
    max_body_bytes: int = 1024 * 1024
    default_limit: int = 30
    max_limit: int = 1000
    base_path: str = "/api"
    log_level: str = "info"
    workers: int = 1  # uvicorn worker processes (more than one needs PostgreSQL)
    insecure: bool = False  # serve without `auth` on a non-loopback address
    reload: bool = True  # watch the `schemas` folders and swap in a changed schema set
    query_timeout: int = 10  # seconds a PostgreSQL statement may run
    answer_cache_mb: int = 64  # encoded answers kept for reads of unchanged objects; 0: none
    count_max_age: int = 5  # seconds a PostgreSQL list total is kept (pg_counts.py); 0: none
    auth: AuthConfig | None = None  # None: no authentication, every caller may do everything
    cors: CorsConfig = field(default_factory=CorsConfig)
    public_url: str = ""  # how clients reach the gateway (webhook URLs); default http://host:port
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    webhooks: tuple[WebhookConfig, ...] = ()
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # overrides by action $id

    @property
    def external_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


_INT_FIELDS = {
    "port",
    "max_body_bytes",
    "default_limit",
    "max_limit",
    "workers",
    "query_timeout",
    "answer_cache_mb",
    "count_max_age",
}
_ZERO_ALLOWED = {"port", "answer_cache_mb", "count_max_age"}
_LIST_FIELDS = {"schemas", "plugins"}
_BOOL_FIELDS = {"insecure", "reload"}
# Structured sections: read from gateway.yaml only (sections.py), never from the environment.
SECTIONS = {
    "auth": read_auth,
    "cors": read_cors,
    "sources": read_sources,
    "webhooks": read_webhooks,
    "actions": read_action_overrides,
}
_KNOWN = {f.name for f in fields(Settings)}
_FLAT = _KNOWN - set(SECTIONS)


def _coerce(name: str, value: Any, source: str) -> Any:
    if name in SECTIONS:
        return SECTIONS[name](value, source)
    if name in _BOOL_FIELDS:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{name}' must be true or false, got {value!r}")
        return value
    if name in _INT_FIELDS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: '{name}' must be an integer, got {value!r}") from None
        if name in _ZERO_ALLOWED and number < 0:
            raise ConfigError(f"{source}: '{name}' must be 0 or more, got {number}")
        if name not in _ZERO_ALLOWED and number < 1:
            raise ConfigError(f"{source}: '{name}' must be positive, got {number}")
        return number
    if name in _LIST_FIELDS:
        if isinstance(value, str):
            return tuple(part for part in value.split(os.pathsep) if part)
        if isinstance(value, list | tuple):
            return tuple(str(part) for part in value)
        raise ConfigError(f"{source}: '{name}' must be a list, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{source}: '{name}' must be a string, got {value!r}")
    return value


def _coerce_all(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(values) - _KNOWN)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s): {', '.join(unknown)}")
    return {name: _coerce(name, value, source) for name, value in values.items()}


def _from_file(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error.strerror}") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: must hold a mapping of settings")
    content = expand_variables(content, environ, str(path))
    values = {str(key).replace("-", "_"): value for key, value in content.items()}
    # Relative folders and files in the config file are relative to the file itself.
    base = path.parent
    for name in ("schemas",):
        if name in values and isinstance(values[name], list):
            values[name] = [str(base / entry) for entry in values[name]]
    if isinstance(values.get("database"), str) and "://" not in values["database"]:
        values["database"] = str(base / values["database"])
    return _coerce_all(values, source=str(path))


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {
        name: environ[f"GATEWAY_{name.upper()}"]
        for name in _FLAT
        if f"GATEWAY_{name.upper()}" in environ
    }
    return _coerce_all(values, source="environment")


def load_settings(
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Merge the four sources. `config_file` (or GATEWAY_CONFIG) must exist when given;
    ./gateway.yaml is read only when present."""
    environ = os.environ if environ is None else environ
    cli = {key: value for key, value in (cli or {}).items() if value is not None}
    chosen = config_file or environ.get("GATEWAY_CONFIG")
    values: dict[str, Any] = {}
    if chosen:
        values.update(_from_file(Path(chosen), environ))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        values.update(_from_file(Path(DEFAULT_CONFIG_FILE), environ))
    values.update(_from_environment(environ))
    values.update(_coerce_all(cli, source="command line"))
    settings = Settings(**values)
    if settings.default_limit > settings.max_limit:
        raise ConfigError(
            f"default_limit ({settings.default_limit}) exceeds max_limit ({settings.max_limit})"
        )
    return settings
