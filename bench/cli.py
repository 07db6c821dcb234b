"""`atlas-bench` (also `atlas bench`, which runs this as `python -m bench`): benchmarks.

Its own entry point, so the gateway never imports bench/ (benchmarks import the
gateway, not the other way round)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.live import add_bench_live_command
from bench.live_hints import add_bench_hints_command
from bench.routing import add_bench_routing_command
from bench.selection import add_bench_selection_command
from bench.soak import add_bench_soak_command
from lens.cli import add_bench_lens_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas bench", description="ATLAS benchmarks")
    commands = parser.add_subparsers(dest="bench_command", required=True)
    add_bench_lens_command(commands)
    add_bench_selection_command(commands)
    add_bench_live_command(commands)
    add_bench_hints_command(commands)
    add_bench_routing_command(commands)
    add_bench_soak_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
