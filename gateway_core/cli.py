"""The `gateway` command: serve, schemas check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway_core.config import Settings, load_settings
from gateway_core.errors import GatewayError

SETTINGS_ARGUMENTS = ("host", "port", "database", "schemas", "plugins")


def _add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a gateway.yaml (default: ./gateway.yaml when present)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--database", help="the data file (default data/gateway.json)")
    parser.add_argument(
        "--schemas", action="append", metavar="DIR", help="a folder of schema files (repeatable)"
    )
    parser.add_argument(
        "--plugin", dest="plugins", action="append", metavar="NAME",
        help="load only this plugin (repeatable; default: every installed plugin)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    cli: dict[str, Any] = {name: getattr(args, name, None) for name in SETTINGS_ARGUMENTS}
    return load_settings(cli, config_file=args.config)


def _print_warnings(gateway: Any) -> None:
    for object_type in gateway.schemas.types.values():
        for pointer, message in object_type.warnings:
            print(f"warning: {object_type.source}: at {pointer or '/'}: {message}", file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway_core.app import create_app, load_gateway

    settings = _settings(args)
    gateway = load_gateway(settings)
    _print_warnings(gateway)
    app = create_app(settings, gateway)
    base = f"http://{settings.host}:{settings.port}{settings.base_path}"
    print(f"API:        {base}  (objecttypes and endpoints: GET {base})")
    print(f"Data file:  {Path(settings.database).resolve()}")
    print(f"Plugins:    {', '.join(p.name for p in gateway.plugins) or 'none'}")
    print(f"Loaded {len(gateway.schemas.types)} objecttypes:")
    for object_type in sorted(gateway.schemas.types.values(), key=lambda t: t.title.lower()):
        routes = [f"{settings.base_path}{e.route}" for e in gateway.endpoints_for(object_type.id)]
        print(f"  {object_type.title} {object_type.version}: {', '.join(routes) or '(value object)'}")
    sys.stdout.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="A schema-driven API gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the gateway")
    _add_settings_arguments(serve_parser)
    serve_parser.set_defaults(run=serve)
    schemas_parser = commands.add_parser("schemas", help="work with schema files")
    schema_commands = schemas_parser.add_subparsers(dest="schemas_command", required=True)
    check = schema_commands.add_parser("check", help="validate schema files; exit 1 on errors")
    check.add_argument("dirs", nargs="*", metavar="DIR", help="folders or files (default: the configured ones)")
    _add_settings_arguments(check)
    check.set_defaults(run=schemas_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except GatewayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
