"""The `atlas` command line: serve, config check, users, keys; lens and bench mounted."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.exceptions import RedisError

from config import ConfigError, Settings, load_settings, masked
from config.engines import embedded_default
from engines import add_engines_commands, installed_stack
from gateway.commands.accounts import add_account_commands
from gateway.wiring.redis_store import StoreUnavailableError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


TOOL_COMMANDS = ("lens",)
STARTUP_FAILURE = 3  # what uvicorn.run exits with when the server never started
# `atlas bench ...` runs the benchmarks' own entry point in a new process: bench/
# imports the gateway, so the gateway must not import bench/.
BENCH_COMMAND = "bench"


def build_parser(with_tools: bool = False) -> argparse.ArgumentParser:
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
    add_engines_commands(commands)
    add_account_commands(commands)
    if with_tools:
        from gateway.commands.lens_store import open_lens_redis
        from lens.cli import add_lens_commands

        add_lens_commands(commands, open_redis=open_lens_redis)
    else:
        # Registered for --help only: loading it imports torch, which `serve` need not wait for.
        commands.add_parser("lens", help="the Geometric Lens ranker: train, status")
    commands.add_parser(BENCH_COMMAND, help="benchmarks: lens, selection, live, soak (atlas-bench)")
    return parser


def run_bench(argv: Sequence[str]) -> int:
    completed = subprocess.run([sys.executable, "-m", "bench", *argv], check=False)
    return completed.returncode


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == BENCH_COMMAND:
        return run_bench(argv[1:])
    args = build_parser(with_tools=bool(argv) and argv[0] in TOOL_COMMANDS).parse_args(argv)
    if hasattr(args, "func"):
        return _run_tool(args)
    try:
        if args.command == "serve":
            settings = load_settings(
                args.config,
                overrides={"server": {"host": args.host, "port": args.port}},
                fallback_models=_installed_default(),
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


def _run_tool(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except StoreUnavailableError as exc:  # `atlas lens ...` on the shared store
        sys.stderr.write(f"atlas: {exc}\n")
        return 1
    except RedisError as exc:  # `--redis-url` to a server that is not there
        sys.stderr.write(f"atlas: the Redis store failed: {exc}\n")
        return 1


def _installed_default() -> dict[str, Any] | None:
    """Models served by the stack `atlas engines install` left, if any."""
    stack = installed_stack()
    if stack is None:
        return None
    if stack.draft_model is None:
        return embedded_default(str(stack.model), str(stack.binary))
    return embedded_default(
        str(stack.model),
        str(stack.binary),
        model_name="qwen2.5-coder-1.5b",
        draft_model_path=str(stack.draft_model),
    )


def configure_logging(level: str) -> None:
    from gateway.telemetry.request_ids import RequestIdFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def serve(settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.drain import Drain
    from gateway.serving import DrainingServer, server_options

    configure_logging(settings.server.log_level)
    drain = Drain(settings.server.shutdown_grace_s)
    app = create_app(settings, drain=drain)
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop",
        **server_options(settings.server),  # httptools: write timeout, read limits
        access_log=False,
        log_config=None,
        log_level=settings.server.log_level,
    )
    server = DrainingServer(config, drain)  # SIGTERM: drain for server.shutdown_grace_s
    server.run()
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
