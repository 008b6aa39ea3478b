"""The structured sections of gateway.yaml: `auth` and `cors` (docs/security.md), `sources`,
`webhooks` and `actions` (docs/events.md).

Each section is read into frozen dataclasses and checked as a whole at start-up: an error names
the file and the place (`auth.clients[1].scopes[0]`). Secrets never appear in a `repr` and plain
API keys are kept only as their SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_core.context import scope_problem
from gateway_core.errors import ConfigError

_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")


@dataclass(frozen=True)
class ClientConfig:
    """A client: an API key (kept as its SHA-256 digest), a JWT secret, or both, and its scopes."""

    id: str
    scopes: tuple[str, ...]
    api_key_sha256: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    algorithms: tuple[str, ...] = ("HS256",)


@dataclass(frozen=True)
class AuthConfig:
    anonymous: tuple[str, ...] = ()
    clients: tuple[ClientConfig, ...] = ()
    leeway_seconds: int = 5  # clock skew allowed on a JWT's exp/nbf/iat


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int = 600


class _Reader:
    """Typed access to one section, with errors naming the file and the dotted place."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {problem}")

    def mapping(self, value: Any, where: str, known: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        unknown = sorted(set(value) - known)
        if unknown:
            raise self.fail(
                where, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a non-empty string")
        return value

    def texts(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, "must be a list of strings")
        return tuple(self.text(item, f"{where}[{index}]") for index, item in enumerate(value))

    def scopes(self, value: Any, where: str) -> tuple[str, ...]:
        scopes = self.texts(value, where)
        for index, scope in enumerate(scopes):
            problem = scope_problem(scope)
            if problem:
                raise self.fail(f"{where}[{index}]", f"{scope!r} is not a scope: {problem}")
        return scopes

    def whole(self, value: Any, where: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"must be a whole number of at least {minimum}")
        return value


def read_auth(value: Any, source: str) -> AuthConfig:
    reader = _Reader(source)
    section = reader.mapping(value or {}, "auth", {"anonymous", "clients", "leeway_seconds"})
    clients: list[ClientConfig] = []
    raw_clients = section.get("clients") or []
    if not isinstance(raw_clients, list):
        raise reader.fail("auth.clients", "must be a list of clients")
    for index, raw in enumerate(raw_clients):
        clients.append(_read_client(reader, raw, f"auth.clients[{index}]"))
    seen: set[str] = set()
    for index, client in enumerate(clients):
        if client.id in seen:
            raise reader.fail(f"auth.clients[{index}].id", f"{client.id!r} is used twice")
        seen.add(client.id)
    return AuthConfig(
        anonymous=reader.scopes(section.get("anonymous"), "auth.anonymous"),
        clients=tuple(clients),
        leeway_seconds=reader.whole(section.get("leeway_seconds", 5), "auth.leeway_seconds"),
    )


def _read_client(reader: _Reader, raw: Any, where: str) -> ClientConfig:
    known = {"id", "api_key", "api_key_sha256", "secret", "scopes", "algorithms"}
    entry = reader.mapping(raw, where, known)
    client_id = reader.text(entry.get("id"), f"{where}.id")
    if not _CLIENT_ID.match(client_id):
        raise reader.fail(f"{where}.id", "may hold letters, digits and . _ : @ - only")
    if "api_key" in entry and "api_key_sha256" in entry:
        raise reader.fail(where, "give api_key or api_key_sha256, not both")
    digest: str | None = None
    if "api_key" in entry:
        key = reader.text(entry["api_key"], f"{where}.api_key")
        digest = hashlib.sha256(key.encode()).hexdigest()
    elif "api_key_sha256" in entry:
        digest = reader.text(entry["api_key_sha256"], f"{where}.api_key_sha256")
        if not _HEX_DIGEST.match(digest):
            raise reader.fail(f"{where}.api_key_sha256", "must be 64 hexadecimal digits")
        digest = digest.lower()
    secret = reader.text(entry["secret"], f"{where}.secret") if "secret" in entry else None
    if digest is None and secret is None:
        raise reader.fail(where, "needs an api_key, an api_key_sha256 or a secret (for JWTs)")
    algorithms = reader.texts(entry.get("algorithms"), f"{where}.algorithms") or ("HS256",)
    for index, algorithm in enumerate(algorithms):
        if algorithm not in JWT_ALGORITHMS:
            raise reader.fail(
                f"{where}.algorithms[{index}]",
                f"{algorithm!r} is not supported (supported: {', '.join(JWT_ALGORITHMS)})",
            )
    return ClientConfig(
        id=client_id,
        scopes=reader.scopes(entry.get("scopes"), f"{where}.scopes"),
        api_key_sha256=digest,
        secret=secret,
        algorithms=algorithms,
    )


def read_cors(value: Any, source: str) -> CorsConfig:
    reader = _Reader(source)
    section = reader.mapping(value or {}, "cors", {"allow_origins", "allow_credentials", "max_age"})
    origins = reader.texts(section.get("allow_origins"), "cors.allow_origins")
    for index, origin in enumerate(origins):
        if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
            raise reader.fail(
                f"cors.allow_origins[{index}]",
                f"{origin!r} is not an origin (scheme://host[:port], no path) or *",
            )
    credentials = section.get("allow_credentials", False)
    if not isinstance(credentials, bool):
        raise reader.fail("cors.allow_credentials", "must be true or false")
    if credentials and "*" in origins:
        raise reader.fail("cors", "allow_credentials cannot be combined with the origin *")
    return CorsConfig(
        origins, credentials, reader.whole(section.get("max_age", 600), "cors.max_age")
    )


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_variables(value: Any, environ: Mapping[str, str], source: str) -> Any:
    """Every `${NAME}` in the strings of a loaded YAML document replaced by the environment
    variable NAME (so that secrets need not sit in the file); an unset variable is an error."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(
                    f"{source}: ${{{name}}} is used but the environment variable {name} is not set"
                )
            return environ[name]

        return _VARIABLE.sub(replace, value)
    if isinstance(value, dict):
        return {key: expand_variables(child, environ, source) for key, child in value.items()}
    if isinstance(value, list):
        return [expand_variables(child, environ, source) for child in value]
    return value


# -- sources (sources.py calls them) ---------------------------------------------------------------

AUTH_KINDS = {
    "none": "none",
    "apikey": "apikey",
    "jwt": "jwt",
    "jwt-HS256": "jwt",
    "basic": "basic",
    "username-password": "basic",
}
_KNOWN_KEYS = {
    "$id", "$schema", "title", "description", "version", "name", "reference", "location",
    "auth", "apikey", "authorizationHeader", "jwtId", "secret", "username", "password",
    "headers", "timeout", "isEnabled", "configuration",
}  # fmt: skip
MAX_RESPONSE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class SourceConfig:
    name: str
    location: str
    reference: str | None = None
    auth: str = "none"
    authorization_header: str = "Authorization"
    apikey: str | None = field(default=None, repr=False)
    jwt_id: str | None = None
    secret: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = 5.0
    enabled: bool = True


def read_source(name: str, value: Any, where: str) -> SourceConfig:
    """A source from gateway.yaml (`sources.<name>`) or a plugin's Source file."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a source must be a mapping")
    unknown = sorted(set(value) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    location = value.get("location")
    if not isinstance(location, str) or not location.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.location: must be an http:// or https:// URL")
    kind = value.get("auth", "none")
    if kind not in AUTH_KINDS:
        raise ConfigError(f"{where}.auth: {kind!r} is not one of {', '.join(AUTH_KINDS)}")
    configuration = value.get("configuration") or {}
    headers = {**(configuration.get("headers") or {}), **(value.get("headers") or {})}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{where}.headers: must map header names to strings")
    timeout = value.get("timeout", configuration.get("timeout", 5))
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise ConfigError(f"{where}.timeout: must be a number of seconds between 0 and 300")
    config = SourceConfig(
        name=name,
        location=location.rstrip("/"),
        reference=value.get("$id") or value.get("reference"),
        auth=AUTH_KINDS[kind],
        authorization_header=str(value.get("authorizationHeader") or "Authorization"),
        apikey=value.get("apikey"),
        jwt_id=value.get("jwtId"),
        secret=value.get("secret"),
        username=value.get("username"),
        password=value.get("password"),
        headers=tuple(sorted(headers.items())),
        timeout=float(timeout),
        enabled=value.get("isEnabled", True) is not False,
    )
    needed = {"apikey": ("apikey",), "jwt": ("jwt_id", "secret"), "basic": ("username", "password")}
    for attribute in needed.get(config.auth, ()):
        if not getattr(config, attribute):
            raise ConfigError(f"{where}: auth {config.auth} needs {attribute}")
    return config


def read_sources(value: Any, source: str) -> dict[str, SourceConfig]:
    """The `sources` section of gateway.yaml: name -> source."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: sources: must map names to sources")
    return {
        str(name): read_source(str(name), entry, f"{source}: sources.{name}")
        for name, entry in value.items()
    }


# -- webhooks (webhooks.py delivers them) ----------------------------------------------------------


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    schemas: tuple[str, ...] = ()  # empty: every objecttype
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    kanaal: str | None = None
    timeout: float = 5.0
    max_attempts: int = 12
    first_retry_seconds: float = 1.0
    max_retry_seconds: float = 300.0

    @property
    def id(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def takes(self, schema_id: str) -> bool:
        return not self.schemas or schema_id in self.schemas

    def retry_after(self, attempts: int) -> float:
        return float(min(self.max_retry_seconds, self.first_retry_seconds * 2 ** (attempts - 1)))


_WEBHOOK_KEYS = {
    "url", "schemas", "headers", "kanaal", "timeout", "max_attempts",
    "first_retry_seconds", "max_retry_seconds",
}  # fmt: skip


def read_webhooks(value: Any, source: str) -> tuple[WebhookConfig, ...]:
    """gateway.yaml's `webhooks` section: a list of receivers."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{source}: webhooks: must be a list")
    hooks = []
    for index, entry in enumerate(value):
        where = f"{source}: webhooks[{index}]"
        if not isinstance(entry, dict) or set(entry) - _WEBHOOK_KEYS:
            raise ConfigError(f"{where}: a mapping with keys {', '.join(sorted(_WEBHOOK_KEYS))}")
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{where}.url: must be an http:// or https:// URL")
        schemas = entry.get("schemas") or []
        headers = entry.get("headers") or {}
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise ConfigError(f"{where}.schemas: must be a list of schema $ids")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(f"{where}.headers: must map header names to strings")
        numbers = {}
        for key, default, low in (
            ("timeout", 5.0, 0.1),
            ("max_attempts", 12, 1),
            ("first_retry_seconds", 1.0, 0.01),
            ("max_retry_seconds", 300.0, 0.01),
        ):
            number = entry.get(key, default)
            if isinstance(number, bool) or not isinstance(number, int | float) or number < low:
                raise ConfigError(f"{where}.{key}: must be a number of at least {low}")
            numbers[key] = number
        kanaal = entry.get("kanaal")
        hooks.append(
            WebhookConfig(
                url=url,
                schemas=tuple(schemas),
                headers=tuple(sorted(headers.items())),
                kanaal=kanaal if isinstance(kanaal, str) else None,
                timeout=float(numbers["timeout"]),
                max_attempts=int(numbers["max_attempts"]),
                first_retry_seconds=float(numbers["first_retry_seconds"]),
                max_retry_seconds=float(numbers["max_retry_seconds"]),
            )
        )
    if len({hook.id for hook in hooks}) != len(hooks):
        raise ConfigError(f"{source}: webhooks: the same url is configured twice")
    return tuple(hooks)


# -- action overrides (actions.py applies them) ------------------------------------------------------

ACTION_OVERRIDABLE = {"isEnabled", "priority", "async", "configuration"}


def read_action_overrides(value: Any, source: str) -> dict[str, dict[str, Any]]:
    """gateway.yaml's `actions` section: action `$id` -> the keys it overrides."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: actions: must map action $ids to overrides")
    for action_id, override in value.items():
        if not isinstance(override, dict) or not set(override) <= ACTION_OVERRIDABLE:
            allowed = ", ".join(sorted(ACTION_OVERRIDABLE))
            raise ConfigError(f"{source}: actions.{action_id}: may override {allowed} only")
        if not isinstance(override.get("configuration", {}), dict):
            raise ConfigError(f"{source}: actions.{action_id}.configuration: must be a mapping")
    return {str(k): dict(v) for k, v in value.items()}
