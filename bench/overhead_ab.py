"""Pass-through overhead of this tree against a git revision, paired in one run.

Both gateways run at once in front of the same scripted upstream; `hey` alternates
between them (the order swapped every round), so drift in the machine's load hits both
sides alike. This is the check for a refactor that must not slow the hot path.

    make bench-overhead-ab ARGS="--baseline 2defa56 --rounds 10 --duration 6"
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.overhead import free_port, hey, start, wait_ready
from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("baseline", "this tree")


def checkout(stack: ExitStack, revision: str) -> Path:
    """A throwaway worktree of `revision`, removed again at the end."""
    where = Path(tempfile.mkdtemp(prefix="atlas-ab-")) / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    stack.callback(
        subprocess.run,
        ["git", "worktree", "remove", "--force", str(where)],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    return where


def start_gateway(stack: ExitStack, tree: Path, upstream: str, log: Path) -> str:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env |= {
        "ATLAS_UPSTREAM_URL": upstream,
        "ATLAS_MODEL_NAME": "coder",
        "ATLAS_LOG_LEVEL": "warning",
        "ATLAS_MASTER_KEY": "sk-bench",
        "ATLAS_DATA_DIR": str(log.with_suffix(".data")),  # its own store, not ~/.cache/atlas
    }
    # Run from the tree: `python -m` puts the working directory first on sys.path.
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    wait_ready(url, start(stack, command, env, log, cwd=tree))
    return url


def measure(args: argparse.Namespace) -> dict[tuple[str, int], list[float]]:
    rps: dict[tuple[str, int], list[float]] = {(s, c): [] for s in SIDES for c in args.concurrency}
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="atlas-ab-logs-"))
        up_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
        command = [sys.executable, "-m", "tests.fakes.upstream", "--port", str(up_port)]
        upstream = f"http://127.0.0.1:{up_port}"
        wait_ready(upstream + "/v1/chat/completions", start(stack, command, env, work / "up.log"))
        trees = {SIDES[0]: checkout(stack, args.baseline), SIDES[1]: ROOT}
        urls = {
            s: start_gateway(stack, t, upstream, work / f"{i}.log")
            for i, (s, t) in enumerate(trees.items())
        }
        for url in urls.values():
            hey(url, 8, 2.0)  # warm-up
        for round_ in range(args.rounds):
            order = SIDES if round_ % 2 == 0 else SIDES[::-1]
            for c in args.concurrency:
                for side in order:
                    rps[(side, c)].append(hey(urls[side], c, args.duration)[0])
    return rps


def report(args: argparse.Namespace, rps: dict[tuple[str, int], list[float]]) -> str:
    lines = [
        f'`make bench-overhead-ab ARGS="--baseline {args.baseline}"`, {time.strftime("%Y-%m-%d")}, '
        f"{os.cpu_count()} cores: both gateways up at once behind one scripted upstream, "
        f"{args.rounds} rounds of {args.duration:g} s per side and concurrency, order swapped "
        "each round (non-streaming chat completion, `hey`).",
        "",
        "| concurrency | baseline RPS (mean ± sd) | this tree RPS (mean ± sd) "
        "| paired ratio (median) |",
        "|---:|---:|---:|---:|",
    ]
    for c in args.concurrency:
        base, new = rps[(SIDES[0], c)], rps[(SIDES[1], c)]
        ratio = statistics.median(n / b for b, n in zip(base, new, strict=True))
        lines.append(
            f"| {c} | {statistics.mean(base):.0f} ± {statistics.stdev(base):.0f} "
            f"| {statistics.mean(new):.0f} ± {statistics.stdev(new):.0f} | {ratio:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per measurement")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 32]
    )
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the spread needs two samples)")
    body = "## Gateway overhead against a baseline revision (paired)\n\n" + report(
        args, measure(args)
    )
    print(body)
    if not args.no_doc:
        write_section("overhead-ab", body)


if __name__ == "__main__":
    main()
