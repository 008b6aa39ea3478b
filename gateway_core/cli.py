"""The `gateway` command: serve, schemas check, plugins, install, migrate, openapi."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway_core.config import SECTIONS, Settings, load_settings
from gateway_core.errors import ConfigError, GatewayError

SETTINGS_ARGUMENTS = (
    "host",
    "port",
    "database",
    "schemas",
    "plugins",
    "workers",
    "insecure",
    "reload",
)


def _add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a gateway.yaml (default: ./gateway.yaml when present)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument(
        "--database", help="the data file (default data/gateway.json) or a postgresql:// URL"
    )
    parser.add_argument(
        "--schemas", action="append", metavar="DIR", help="a folder of schema files (repeatable)"
    )
    parser.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        metavar="NAME",
        help="load only this plugin (repeatable; default: every installed plugin)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    cli: dict[str, Any] = {name: getattr(args, name, None) for name in SETTINGS_ARGUMENTS}
    return load_settings(cli, config_file=args.config)


def _print_warnings(gateway: Any) -> None:
    for object_type in gateway.schemas.types.values():
        for pointer, message in object_type.warnings:
            print(f"warning: {object_type.source}: at {pointer or '/'}: {message}", file=sys.stderr)
    for source, pointer, message in gateway.mappings.warnings:
        print(f"warning: {source}: at {pointer}: {message}", file=sys.stderr)


def _workers_environment(settings: Settings, config: str | None) -> dict[str, str]:
    """The settings as GATEWAY_* variables, for worker processes (app_from_environment)."""
    import os

    environment = {"GATEWAY_CONFIG": str(Path(config).resolve())} if config else {}
    for name, value in vars(settings).items():
        if value is None or name in SECTIONS:  # sections come from the config file again
            continue
        if isinstance(value, tuple):
            value = os.pathsep.join(value)
        environment[f"GATEWAY_{name.upper()}"] = str(value)
    return environment


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Without `auth`, every caller may read and change everything: fine on this machine only."""
    if settings.auth is not None:
        return
    if is_loopback(settings.host):
        print(
            "warning: no `auth` is configured: every client may read and change every object "
            "(fine on 127.0.0.1; see docs/security.md before exposing the gateway)",
            file=sys.stderr,
        )
        return
    if not settings.insecure:
        raise ConfigError(
            f"refusing to serve on {settings.host} without `auth` in gateway.yaml: every client "
            "could read and change every object; configure auth (docs/security.md) or pass --insecure"
        )
    print(
        f"warning: serving on {settings.host} WITHOUT authentication (--insecure)", file=sys.stderr
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway_core.app import create_app, load_gateway

    settings = _settings(args)
    check_exposure(settings)
    if settings.workers > 1 and not settings.database.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"--workers {settings.workers} needs a PostgreSQL database (--database "
            "postgresql://...): the embedded TinyDB store is one file that one process owns"
        )
    gateway = load_gateway(settings)
    _print_warnings(gateway)
    app = create_app(settings, gateway)
    for source, pointer, message in app.state.service.relations.warnings:
        print(f"warning: {source}: at {pointer}: {message}", file=sys.stderr)
    base = f"http://{settings.host}:{settings.port}{settings.base_path}"
    print(f"API:        {base}  (objecttypes and endpoints: GET {base})")
    if "://" in settings.database:
        from gateway_core.storage.postgresql import redacted_url

        print(f"Database:   {redacted_url(settings.database)} ({settings.workers} worker(s))")
    else:
        print(f"Data file:  {Path(settings.database).resolve()}")
    print(f"Plugins:    {', '.join(p.name for p in gateway.plugins) or 'none'}")
    print(f"Loaded {len(gateway.schemas.types)} objecttypes:")
    for object_type in sorted(gateway.schemas.types.values(), key=lambda t: t.title.lower()):
        routes = [f"{settings.base_path}{e.route}" for e in gateway.endpoints_for(object_type.id)]
        print(
            f"  {object_type.title} {object_type.version}: {', '.join(routes) or '(value object)'}"
        )
    sys.stdout.flush()
    if settings.workers > 1:  # every worker builds its own app (and connection pool)
        import os

        os.environ.update(_workers_environment(settings, args.config))
        uvicorn.run(
            "gateway_core.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
        )
        return 0
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False
    )
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    import asyncio

    from gateway_core.migrate import migrate

    counts = asyncio.run(migrate(args.source, args.target))
    for collection, count in counts.items():
        print(f"  {collection}: {count}")
    print(f"Copied {sum(counts.values())} objects in {len(counts)} collections.")
    return 0


def schemas_check(args: argparse.Namespace) -> int:
    from gateway_core.app import load_gateway
    from gateway_core.schemas.registry import load_schemas

    if args.dirs:
        schemas = load_schemas(Path(folder) for folder in args.dirs)
        types = schemas.types.values()
    else:
        gateway = load_gateway(_settings(args))
        types = gateway.schemas.types.values()
    for object_type in types:
        for pointer, message in object_type.warnings:
            print(f"warning: {object_type.source}: at {pointer or '/'}: {message}")
    print(f"ok: {len(types)} schemas valid")
    return 0


def list_plugins(args: argparse.Namespace) -> int:
    from gateway_core.app import load_gateway
    from gateway_core.plugins import discover

    plugins = discover()
    if not plugins:
        print("No plugins installed (entry-point group 'gateway.plugins').")
        return 0
    settings = _settings(args)
    for plugin in plugins:
        gateway = load_gateway(replace(settings, schemas=(), plugins=(plugin.name,)), plugins)
        print(f"{plugin.name}: {plugin.title}")
        for object_type in sorted(gateway.schemas.types.values(), key=lambda t: t.title.lower()):
            routes = [
                f"{settings.base_path}{e.route}" for e in gateway.endpoints_for(object_type.id)
            ]
            print(
                f"  {object_type.title} ({object_type.id}): {', '.join(routes) or 'value object'}"
            )
    return 0


def install_plugin(args: argparse.Namespace) -> int:
    import asyncio

    from gateway_core.app import build_service, load_gateway
    from gateway_core.installer import install
    from gateway_core.storage import open_store

    settings = _settings(args)
    gateway = load_gateway(settings)
    chosen = next((p for p in gateway.plugins if p.name == args.plugin), None)
    if chosen is None:
        loaded = ", ".join(p.name for p in gateway.plugins) or "none"
        print(
            f"error: plugin {args.plugin!r} is not installed or not selected (loaded: {loaded})",
            file=sys.stderr,
        )
        return 1
    store = open_store(settings.database)

    async def run() -> dict[str, Any]:
        try:
            return await install(build_service(settings, gateway, store), chosen, args.data)
        finally:
            await store.close()

    summary = asyncio.run(run())
    loaded = (
        f"; fixtures: {summary['created']} created, {summary['replaced']} replaced"
        if args.data
        else ""
    )
    print(f"Installed {chosen.name} into {settings.database}{loaded}")
    return 0


def outbox_command(args: argparse.Namespace) -> int:
    """The webhook outbox: what waits to be delivered, what failed; --retry-failed queues the
    failed messages again."""
    import asyncio

    from gateway_core.storage import open_store
    from gateway_core.webhooks import outbox_messages, retry_failed

    settings = _settings(args)
    store = open_store(settings.database)

    async def run() -> list[Any]:
        try:
            if args.retry_failed:
                count = await retry_failed(store)
                print(f"Queued {count} failed message(s) for delivery again.")
            return await outbox_messages(store, args.status)
        finally:
            await store.close()

    messages = asyncio.run(run())
    counts = {"pending": 0, "failed": 0}
    for message in messages:
        data = message.data
        counts[data["status"]] = counts.get(data["status"], 0) + 1
        print(
            f"{data['status']:8} {data['message']['actie']:15} {data['message']['resourceUrl']}"
            f" -> {data['url']}  attempts={data['attempts']} next={data['nextAttempt']}"
            + (f"  last error: {data['lastError']}" if data.get("lastError") else "")
        )
    print(f"{counts['pending']} pending, {counts['failed']} failed")
    return 0


def mapping_test(args: argparse.Namespace) -> int:
    """Apply a mapping (a file, or the `$id` of a loaded plugin's mapping) to a JSON file and print
    the result, so that a plugin author can try a mapping without a server."""
    import json

    from gateway_core.app import load_gateway
    from gateway_core.mapping import MappingError
    from gateway_core.schemas.registry import read_json

    settings = _settings(args)
    mappings = load_gateway(settings).mappings
    reference = args.mapping
    if Path(reference).is_file():
        spec = mappings.read(Path(reference))
        mappings.by_id[spec.id] = spec
        mappings.check_references()
        reference = spec.id
    for source, pointer, message in mappings.warnings:
        print(f"warning: {source}: at {pointer}: {message}", file=sys.stderr)
    data = read_json(Path(args.input))
    try:
        result = mappings.apply(reference, data)
    except MappingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def print_openapi(args: argparse.Namespace) -> int:
    import json

    from gateway_core.app import api_description, load_gateway
    from gateway_core.openapi import as_yaml

    settings = _settings(args)
    document = api_description(settings, load_gateway(settings))
    if args.format == "yaml":
        sys.stdout.write(as_yaml(document))
    else:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="A schema-driven API gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the gateway")
    _add_settings_arguments(serve_parser)
    serve_parser.add_argument(
        "--workers", type=int, help="worker processes (default 1; more need PostgreSQL)"
    )
    serve_parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow serving on a non-loopback address without `auth` configured",
    )
    serve_parser.add_argument(
        "--no-reload",
        dest="reload",
        action="store_false",
        default=None,
        help="do not watch the --schemas folders for changes",
    )
    serve_parser.set_defaults(run=serve)
    schemas_parser = commands.add_parser("schemas", help="work with schema files")
    schema_commands = schemas_parser.add_subparsers(dest="schemas_command", required=True)
    check = schema_commands.add_parser("check", help="validate schema files; exit 1 on errors")
    check.add_argument(
        "dirs", nargs="*", metavar="DIR", help="folders or files (default: the configured ones)"
    )
    _add_settings_arguments(check)
    check.set_defaults(run=schemas_check)
    plugins_parser = commands.add_parser(
        "plugins", help="list installed plugins, their objecttypes and endpoints"
    )
    _add_settings_arguments(plugins_parser)
    plugins_parser.set_defaults(run=list_plugins)
    install_parser = commands.add_parser("install", help="register a plugin in the database")
    install_parser.add_argument("plugin", help="the plugin's name, e.g. customer-interaction")
    install_parser.add_argument(
        "--data", action="store_true", help="also load its fixtures (demo data)"
    )
    _add_settings_arguments(install_parser)
    install_parser.set_defaults(run=install_plugin)
    migrate_parser = commands.add_parser(
        "migrate", help="copy every object from one database to another (TinyDB <-> PostgreSQL)"
    )
    migrate_parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="DATABASE",
        help="the data file or postgresql:// URL to copy from (only read)",
    )
    migrate_parser.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="DATABASE",
        help="the EMPTY data file or postgresql:// URL to copy into (all or nothing)",
    )
    migrate_parser.set_defaults(run=migrate_command)
    outbox_parser = commands.add_parser(
        "outbox", help="show webhook messages waiting for delivery or failed (docs/events.md)"
    )
    outbox_parser.add_argument("--status", choices=("pending", "failed"), help="only these")
    outbox_parser.add_argument(
        "--retry-failed", action="store_true", help="queue the failed messages again"
    )
    _add_settings_arguments(outbox_parser)
    outbox_parser.set_defaults(run=outbox_command)
    mapping_parser = commands.add_parser("mapping", help="work with mappings (docs/mappings.md)")
    mapping_commands = mapping_parser.add_subparsers(dest="mapping_command", required=True)
    mapping_try = mapping_commands.add_parser(
        "test", help="apply a mapping to a JSON file and print the result"
    )
    mapping_try.add_argument("mapping", help="a mapping file, or the $id of a plugin's mapping")
    mapping_try.add_argument("input", help="a JSON file: the input to map")
    _add_settings_arguments(mapping_try)
    mapping_try.set_defaults(run=mapping_test)
    openapi_parser = commands.add_parser(
        "openapi", help="print the OpenAPI 3.1 document of the configured schemas and plugins"
    )
    openapi_parser.add_argument("--format", choices=("json", "yaml"), default="json")
    _add_settings_arguments(openapi_parser)
    openapi_parser.set_defaults(run=print_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except GatewayError as error:
        print(f"error: {error}", file=sys.stderr)
        for param in getattr(error, "invalid_params", []):
            print(f"  {param.name}: {param.reason} ({param.code})", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
