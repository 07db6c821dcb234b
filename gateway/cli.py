"""The `atlas` command line: serve, config check."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import msgspec

from config import ConfigError, Settings, load_settings, masked

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="ATLAS test-time-compute gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the gateway")
    serve.add_argument("--config", help="TOML config file (see config/atlas.example.toml)")
    serve.add_argument("--host", help="listen address (overrides the config file)")
    serve.add_argument("--port", type=int, help="listen port (overrides the config file)")
    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file and print it")
    check.add_argument("file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            settings = load_settings(
                args.config, overrides={"server": {"host": args.host, "port": args.port}}
            )
            return serve(settings)
        if args.command == "config":
            settings = load_settings(args.file)
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(masked(settings))).decode())
            sys.stdout.write("\n")
            return 0
    except ConfigError as exc:
        sys.stderr.write(f"atlas: invalid configuration: {exc}\n")
        return 2
    return 1


def configure_logging(level: str) -> None:
    from gateway.observability import RequestIdFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def serve(settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app

    configure_logging(settings.server.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        log_level=settings.server.log_level,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
