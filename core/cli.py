"""The `litegate` command: serve, check, plugins, db, spend, pricing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from . import cli_spend, cli_tenancy, loader
from .config import GatewayConfig, load_config
from .config_errors import ConfigError
from .config_types import Secret

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # `litegate plugins | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="litegate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway under Hypercorn")
    serve.add_argument("--config", "-c", default="pipeline.toml", type=Path)
    serve.add_argument("--host", help="overrides [server].host")
    serve.add_argument("--port", type=int, help="overrides [server].port")
    serve.add_argument("--workers", type=int, help="overrides [server].workers")

    check = commands.add_parser("check", help="validate a config and show what it runs")
    check.add_argument("config", type=Path)

    commands.add_parser("plugins", help="list every installed plugin and provider")

    db = commands.add_parser("db", help="migrate the records database ([state] db)")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--config", "-c", default="pipeline.toml", type=Path)
    cli_tenancy.add_commands(commands)

    cli_spend.add_commands(commands)

    args = parser.parse_args(argv)
    if args.command in cli_spend.COMMANDS:
        return cli_spend.run(args)
    if args.command == "plugins":
        return _plugins()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    if args.command == "check":
        return _check(config)
    if args.command == "db":
        # Imported here: SQLAlchemy is not needed to serve or check.
        from .db.cli import run as run_db

        return run_db(args.action, config)
    if args.command in cli_tenancy.COMMANDS:
        return cli_tenancy.run(args, config)
    from .server import serve as run_server

    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    workers = args.workers or config.server.workers
    print(
        f"litegate: serving {args.config} on http://{host}:{port} ({workers} worker(s))",
        file=sys.stderr,
    )
    return run_server(config, args.config, host, port, workers) or 0


def _check(config: GatewayConfig) -> int:
    # Building the Gateway also runs each plugin's own set-up checks.
    from .gateway import Gateway

    try:
        Gateway(config)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    print(f"{config.source}: OK")
    print(f"server: {config.server.host}:{config.server.port}, {config.server.workers} worker(s)")
    print(f"state: kv={config.state.kv} db={config.state.db}")
    print("pipeline (requests pass in this order; responses in reverse):")
    for entry in config.plugins:
        name = entry.plugin if entry.id == entry.plugin else f"{entry.plugin} (id {entry.id})"
        print(f"  {entry.index + 1}. {name}{_options(entry.config)}")
    print("models:")
    for model in config.models:
        key = " api_key=********" if model.api_key else ""
        base = f" api_base={model.api_base}" if model.api_base else ""
        print(f"  {model.name} -> {model.provider}:{model.model}{base}{key}")
    return 0


def _options(config: Any) -> str:
    if config is None:
        return ""
    from .config import converter

    shown = {k: _mask(v) for k, v in converter.unstructure(config).items()}
    return " " + ", ".join(f"{k}={v}" for k, v in shown.items())


def _mask(value: Any) -> Any:
    if isinstance(value, Secret) or value == repr(Secret("")):
        return "********"
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def _plugins() -> int:
    found = loader.discover()
    for group in (loader.PLUGIN_GROUP, loader.PROVIDER_GROUP):
        print(f"{group}:")
        for item in (d for d in found if d.group == group):
            print(f"  {item.name:<16} {item.target:<60} from {item.package}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
