"""`atlas bench live`: HumanEval or MBPP through a live gateway, graded in nsjail.

    atlas bench live --dataset humaneval|mbpp [--start S --limit N] --k 1,5 [--repair 0,1]
                     [--oracle K [--oracle-temperature T]]
                     [--base-url URL] [--out DIR] [--resume]
    make bench-live ARGS="--dataset humaneval --limit 20 --k 1,5"

Each problem goes to the gateway as an IDE would send it (`bench.live_data` shows the
exact prompt), one request at a time, once per setting: the model alone (k = 1, no
repair, temperature 0, always run), each (k, repair) combination and, with --oracle K,
the oracle of plain sampling: K pass-through requests at temperature T (default 0.6, the
gateway's own for k <= 5) with seeds 0..K-1, solved when any of the K passes (an upper
bound for picking one of those K samples, not a setting a client gets). The gateway never
sees the hidden tests; `bench.live_grade` grades the answers itself in the sandbox.
Without --base-url the embedded default gateway is started and stopped
(`bench.live_gateway`). Results go to <out>/<dataset>-<start>-<limit>.jsonl, one line
per (setting, problem) (`--resume` skips what is there); the table goes into
docs/benchmarks.md between `<!-- live-<dataset>:start/end -->` and the plot to
docs/img/live_<dataset>.png. MBPP problems 0..199 are held out and always refused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.live_client import ORACLE_TEMPERATURE
from bench.live_data import DATASETS, SplitError, default_start, load_problems
from bench.live_fetch import FetchError
from bench.live_gateway import GatewayStartError, embedded_gateway
from bench.live_grade import GradeError
from bench.live_run import Outcome, RunSpec, open_results, pending, recorded, report, run
from bench.report import DOC

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out" / "live"


def add_bench_live_command(bench_subparsers: Any) -> None:
    """Register `live` under the `atlas bench` command group."""
    bench = bench_subparsers.add_parser(
        "live",
        help="HumanEval / MBPP through a live gateway, graded in nsjail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--dataset", required=True, choices=DATASETS)
    bench.add_argument(
        "--start", type=int, help="first problem index (default: 0; MBPP: 200, the least allowed)"
    )
    bench.add_argument("--limit", type=int, help="number of problems (default: all from --start)")
    bench.add_argument("--k", type=_ints(1), default=(1, 5), help="comma-separated k values")
    bench.add_argument("--repair", type=_ints(0), default=(0,), help="repair rounds, e.g. 0,1")
    bench.add_argument(
        "--oracle",
        type=_positive(int),
        metavar="K",
        help="also K plain samples per problem (seeds 0..K-1): oracle pass@K (default: off)",
    )
    bench.add_argument(
        "--oracle-temperature",
        type=_positive(float),
        default=ORACLE_TEMPERATURE,
        metavar="T",
        help=f"temperature of the oracle's samples (default: {ORACLE_TEMPERATURE})",
    )
    bench.add_argument("--base-url", help="a running gateway (default: start the embedded one)")
    bench.add_argument("--model", help="model name (default: the first one /v1/models lists)")
    bench.add_argument("--api-key", default=os.environ.get("ATLAS_API_KEY"))
    bench.add_argument("--max-tokens", type=int, default=768)
    bench.add_argument("--out", type=Path, default=OUT_DIR, help="folder of the results file")
    bench.add_argument("--resume", action="store_true", help="skip what the results file has")
    bench.add_argument("--doc", type=Path, default=DOC, help="markdown file for the table")
    bench.set_defaults(func=run_live_bench)


def _ints(least: int) -> Any:
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
        except ValueError:
            raise argparse.ArgumentTypeError(f"want integers like 0,1,5, not {text!r}") from None
        if not values or values[0] < least:
            raise argparse.ArgumentTypeError(f"values must be >= {least}")
        return values

    return parse


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"want a number, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value

    return parse


def results_path(out: Path, dataset: str, start: int, limit: int | None) -> Path:
    return out / f"{dataset}-{start}-{limit if limit is not None else 'all'}.jsonl"


def run_live_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    start = default_start(args.dataset) if args.start is None else args.start
    try:
        problems = load_problems(args.dataset, start, args.limit)
    except SplitError as exc:
        print(f"atlas bench live: {exc}", file=sys.stderr)
        return 2
    except (FetchError, ValueError, OSError) as exc:
        print(f"atlas bench live: cannot load {args.dataset}: {exc}", file=sys.stderr)
        return 1
    path = results_path(args.out, args.dataset, start, args.limit)
    if path.exists() and not args.resume:
        print(f"atlas bench live: {path} exists: pass --resume, or remove it", file=sys.stderr)
        return 2
    spec = RunSpec.from_args(args, problems, path)
    try:
        outcome = _measure(spec, args)
    except KeyboardInterrupt:
        print(f"atlas bench live: interrupted; --resume continues {path}", file=sys.stderr)
        return 130
    except (GatewayStartError, GradeError, RuntimeError, OSError) as exc:
        print(f"atlas bench live: {exc}", file=sys.stderr)
        return 1
    print(report(spec, outcome))
    return 1 if outcome.errors else 0


def _measure(spec: RunSpec, args: argparse.Namespace) -> Outcome:
    """Send what is pending; a finished run resumed needs no gateway, only its report."""
    results = open_results(spec)
    if not pending(spec, results):
        return recorded(spec, results)
    with ExitStack() as stack:
        # SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the gateway it started stops.
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        url = args.base_url or stack.enter_context(embedded_gateway(args.out / "gateway.log"))
        return asyncio.run(run(spec, results, url))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    add_bench_live_command(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["live", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
