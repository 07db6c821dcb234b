"""`atlas bench hints`: strategy hints on against off, on MBPP through the router.

    atlas bench hints [--fill-start 200 --fill 40] [--start 240 --limit 25] [--out DIR]
                      [--config bench/hints_router.toml] [--fill 0 --store DIR]

One embedded default gateway (`atlas serve` on the installed stack) with a Redis store
of its own in <out>/hints-store, so no earlier run's cache or posteriors take part.
Every request omits k, so the router decides (a forced k bypasses it), and carries
`"atlas": {"hints": h, "debug": true}`. Fill: MBPP problems fill-start.. with hints
off; the router stores its verified answers in the pattern cache. Measure: problems
start.., each with hints off and on (the order alternating by problem, so neither
setting always teaches the bandit first), both with `"cache": false`, so neither gets
a cache hit nor stores (the second would otherwise hit the first's answer). Answers
are graded against the hidden tests in nsjail, as `atlas bench live` grades them.
`--store` reuses an earlier run's store (with `--fill 0`: more problems measured
against the same entries).
MBPP problems 0..199 are held out and refused. Each answer is one JSON line in
<out>/hints-<start>-<limit>.jsonl; the table is printed and written beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.live_client import (
    CLIENT_TIMEOUT_S,
    Reply,
    atlas_headers,
    chat_url,
    parse_answer,
    served_models,
)
from bench.live_data import Problem, SplitError, check_mbpp_start, load_problems, user_message
from bench.live_gateway import GatewayStartError, embedded_gateway
from bench.live_grade import Grade, GradeError, Grader
from sandbox import Sandbox, SandboxConfig

logger = logging.getLogger(__name__)
OUT_DIR = Path(__file__).resolve().parent / "out" / "live"
HINTS_INTRO = "Verified solutions to similar problems from this workspace"


class Line(msgspec.Struct, kw_only=True):
    phase: str  # fill, measure
    hints: bool
    task_id: str
    status: int
    wall_s: float
    headers: dict[str, str]
    passed: bool
    reason: str = ""
    error: str | None = None
    leaked: bool = False  # the answer holds the hints' intro
    content: str = ""


def add_bench_hints_command(bench_subparsers: Any) -> None:
    bench = bench_subparsers.add_parser(
        "hints",
        help="strategy hints on against off (MBPP through the router)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--fill-start", type=int, default=200)
    bench.add_argument("--fill", type=int, default=40, help="problems sent to fill the cache")
    bench.add_argument("--start", type=int, default=240)
    bench.add_argument("--limit", type=int, default=25, help="problems measured")
    bench.add_argument("--max-tokens", type=int, default=768)
    bench.add_argument("--out", type=Path, default=OUT_DIR)
    bench.add_argument("--config", type=Path, help="gateway config (default: the default stack)")
    bench.add_argument("--store", type=Path, help="an earlier run's store dir (with --fill 0)")
    bench.set_defaults(func=run_hints_bench)


def body(model: str, problem: Problem, max_tokens: int, hints: bool, cache: bool) -> bytes:
    atlas: dict[str, Any] = {"hints": hints, "debug": True}
    if not cache:
        atlas["cache"] = False
    return msgspec.json.encode(
        {
            "model": model,
            "messages": [{"role": "user", "content": user_message(problem)}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "atlas": atlas,
        }
    )


async def ask(client: httpx.AsyncClient, url: str, payload: bytes) -> Reply:
    started = time.perf_counter()
    try:
        response = await client.post(
            url, content=payload, headers={"content-type": "application/json"}
        )
    except httpx.HTTPError as exc:
        return Reply(status=0, wall_s=time.perf_counter() - started, error=repr(exc)[:300])
    wall = time.perf_counter() - started
    headers = atlas_headers(response.headers)
    if response.status_code != 200:
        error = f"HTTP {response.status_code}: {response.text[:300]}"
        return Reply(status=response.status_code, wall_s=wall, headers=headers, error=error)
    return parse_answer(response.content, wall, headers)


async def one(
    client: httpx.AsyncClient,
    grader: Grader,
    url: str,
    model: str,
    problem: Problem,
    *,
    phase: str,
    hints: bool,
    max_tokens: int,
) -> Line:
    payload = body(model, problem, max_tokens, hints, cache=phase == "fill")
    reply = await ask(client, url, payload)
    grade = Grade(passed=False, reason="no answer")
    if reply.error is None:
        grade = await grader.grade(problem, reply.content)
    return Line(
        phase=phase,
        hints=hints,
        task_id=problem.task_id,
        status=reply.status,
        wall_s=reply.wall_s,
        headers=reply.headers,
        passed=grade.passed,
        reason=grade.reason,
        error=reply.error,
        leaked=HINTS_INTRO in reply.content,
        content=reply.content,
    )


async def measure(args: argparse.Namespace, url: str, path: Path) -> list[Line]:
    fill = load_problems("mbpp", args.fill_start, args.fill) if args.fill else []
    measured = load_problems("mbpp", args.start, args.limit)
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=1))
    lines: list[Line] = []
    try:
        if not sandbox.available:
            raise RuntimeError(f"the sandbox is unavailable: {sandbox.availability.reason}")
        grader = Grader(sandbox)
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as client:
            models = await served_models(client, url)
            if not models:
                raise RuntimeError(f"{url}/v1/models lists no model")
            model = models[0]
            target = chat_url(url)
            with path.open("wb") as out:
                jobs = [("fill", p, False) for p in fill]
                for i, p in enumerate(measured):
                    order = (False, True) if i % 2 == 0 else (True, False)
                    jobs += [("measure", p, h) for h in order]
                for n, (phase, problem, hints) in enumerate(jobs, 1):
                    line = await one(
                        client,
                        grader,
                        target,
                        model,
                        problem,
                        phase=phase,
                        hints=hints,
                        max_tokens=args.max_tokens,
                    )
                    lines.append(line)
                    out.write(msgspec.json.encode(line) + b"\n")
                    out.flush()
                    print(
                        f"[{n}/{len(jobs)}] {phase} hints={int(hints)} {problem.task_id} "
                        f"passed={line.passed} {line.wall_s:.1f}s "
                        f"route={line.headers.get('x-atlas-route')} "
                        f"cands={line.headers.get('x-atlas-candidates')} "
                        f"hints={line.headers.get('x-atlas-hints')} {line.error or ''}",
                        flush=True,
                    )
    finally:
        await sandbox.close()
    return lines


def summary_table(lines: Sequence[Line]) -> str:
    rows = [
        "| setting | problems | pass@1 | candidates / problem | wall mean (s) | got hints "
        "| hints / request | cache hits | errors | hint text in answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, hints, label in (
        ("fill", False, "fill pass (hints off, cache on)"),
        ("measure", False, "hints off (cache off)"),
        ("measure", True, "hints on (cache off)"),
    ):
        part = [x for x in lines if x.phase == phase and x.hints == hints]
        if not part:
            continue
        counts = [int(x.headers.get("x-atlas-hints", "0") or 0) for x in part]
        cands = [int(x.headers.get("x-atlas-candidates", "1") or 1) for x in part]
        passed = sum(x.passed for x in part)
        hits = sum(x.headers.get("x-atlas-route") == "cache" for x in part)
        rows.append(
            f"| {label} | {len(part)} | {100 * passed / len(part):.1f}% ({passed}) "
            f"| {statistics.mean(cands):.2f} | {statistics.mean(x.wall_s for x in part):.1f} "
            f"| {sum(c > 0 for c in counts)} | {statistics.mean(counts):.2f} | {hits} "
            f"| {sum(x.error is not None for x in part)} | {sum(x.leaked for x in part)} |"
        )
    return "\n".join(rows)


def run_hints_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        check_mbpp_start(args.fill_start)
        check_mbpp_start(args.start)
    except SplitError as exc:
        print(f"atlas bench hints: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"hints-{args.start}-{args.limit}.jsonl"
    store = args.store or args.out / f"hints-store-{int(time.time())}"
    # SIGTERM (kill, a CI timeout) unwinds like Ctrl-C, so the gateway it started stops.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with embedded_gateway(
            args.out / "hints-gateway.log", data_dir=store, config=args.config
        ) as url:
            lines = asyncio.run(measure(args, url, path))
    except (GatewayStartError, GradeError, RuntimeError, OSError) as exc:
        print(f"atlas bench hints: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    table = summary_table(lines)
    path.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
