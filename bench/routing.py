"""`atlas bench routing`: the difficulty router against fixed k, on replay data.

    atlas bench routing --dataset codet-b [--k 1,5,20] [--passes 3] [--limit N]

Fixed k: each problem once with `"atlas": {"k": k}` (k = 1 passes through). The router:
the same problems without any k, `passes` times over, on a gateway of type "router"
with an empty store of its own and the pattern cache off (a cache hit on the next pass
would be free and flatter it); its posteriors learn across passes. Every answer is
judged against the record's hidden tests in the sandbox (the gateway never sees them).
Reported per row: pass@1 and candidates generated per problem (`x-atlas-candidates`,
1 for a pass-through answer).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import openai
from tqdm import tqdm

from bench.passmatrix import HiddenTests, VerdictCache, answer_code
from bench.routing_plot import plot
from bench.selection import OUT_DIR, REQUEST_TIMEOUT_S, _ks, load_records, resolve_dataset
from engines.replay import ReplayRecord
from sandbox import Sandbox, SandboxConfig

logger = logging.getLogger(__name__)
# The router as a new install has it, but for the replay: no repair (a replay cannot
# answer a repair request), no cache (see above), best-of-k's k ceiling for the bench,
# and no time budget (a replay answers at once: the budget would cut searches by how
# loaded the machine's sandbox is).
PLOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "routing.png"
ROUTER = {
    "type": "router",
    "cache": {"enabled": False},
    "best_of_k": {"max_k": 128, "repair_rounds": 0, "time_budget": 0},
}


def add_bench_routing_command(bench_subparsers: Any) -> None:
    bench = bench_subparsers.add_parser(
        "routing",
        help="the difficulty router against fixed k on replay data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--dataset", default="codet-b", help="replay JSONL or codet-a / codet-b")
    bench.add_argument("--k", type=_ks, default=(1, 5, 20), help="fixed k rows")
    bench.add_argument("--passes", type=int, default=3, help="router passes over the problems")
    bench.add_argument("--limit", type=int, help="only the first N problems")
    bench.add_argument("--cost-weight", type=float, help="the router's cost_weight (default 0.15)")
    bench.add_argument("--router-only", action="store_true", help="no fixed-k rows")
    bench.add_argument("--concurrency", type=int, default=8)
    bench.add_argument("--sandbox-concurrency", type=int, default=os.cpu_count() or 1)
    bench.add_argument("--out", type=Path, default=OUT_DIR / "routing.json")
    bench.add_argument("--plot", type=Path, default=PLOT, help="PNG of pass@1 against candidates")
    bench.set_defaults(func=run_routing_bench)


async def _one(
    client: openai.AsyncOpenAI, judge: HiddenTests, record: ReplayRecord, k: int | None
) -> dict[str, Any]:
    extra = {"atlas": {"k": k}} if k is not None else None
    raw = await client.chat.completions.with_raw_response.create(
        model="replay",
        messages=record.messages,  # type: ignore[arg-type]
        extra_body=extra,
    )
    content = raw.parse().choices[0].message.content or ""
    headers = {n.lower(): v for n, v in raw.headers.items() if n.lower().startswith("x-atlas-")}
    passed = await judge.passed(answer_code(content), record.hidden_tests or "")
    return {
        "problem": record.id,
        "passed": passed,
        "route": headers.get("x-atlas-route", "-"),
        "candidates": int(headers.get("x-atlas-candidates", "1")),
        "difficulty": headers.get("x-atlas-difficulty"),
    }


async def _row(
    url: str, judge: HiddenTests, records: list[ReplayRecord], k: int | None, args: Any, label: str
) -> dict[str, Any]:
    client = openai.AsyncOpenAI(
        base_url=url, api_key="sk-bench", max_retries=0, timeout=REQUEST_TIMEOUT_S
    )
    slots = asyncio.Semaphore(max(1, args.concurrency))
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    async with client:
        with tqdm(total=len(records), desc=label, unit="req") as bar:

            async def run(record: ReplayRecord) -> None:
                async with slots:
                    results.append(await _one(client, judge, record, k))
                bar.update(1)

            async with asyncio.TaskGroup() as group:
                for record in records:
                    group.create_task(run(record))
    n = len(results)
    return {
        "row": label,
        "problems": n,
        "pass_at_1": sum(r["passed"] for r in results) / n,
        "candidates_per_problem": sum(r["candidates"] for r in results) / n,
        "routes": dict(Counter(r["route"] for r in results)),
        "wall_s": round(time.perf_counter() - started, 1),
        "per_problem": sorted(results, key=lambda r: str(r["problem"])),
    }


def oracle_bound(row: dict[str, Any]) -> dict[str, Any]:
    """What a router that knew in advance which problems this row's search solves
    would spend to match its pass@1: that search's candidates where it passed, one
    candidate where it did not (a lower bound for any router over these routes)."""
    per = row["per_problem"]
    spent = sum(r["candidates"] if r["passed"] else 1 for r in per)
    return {
        "row": f"oracle router ({row['row']}'s solved set)",
        "problems": len(per),
        "pass_at_1": row["pass_at_1"],
        "candidates_per_problem": spent / len(per),
        "routes": {},
        "wall_s": 0.0,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from bench.local_gateway import local_gateway

    dataset, cache_path = resolve_dataset(args.dataset)
    records = load_records(dataset, args.limit)
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=args.sandbox_concurrency))
    if not sandbox.available:
        raise RuntimeError(f"sandbox unavailable: {sandbox.availability.reason}")
    cache = VerdictCache(cache_path)
    judge = HiddenTests(sandbox, cache)
    rows: list[dict[str, Any]] = []
    try:
        if not args.router_only:
            with local_gateway(dataset, "replay") as url:
                for k in args.k:
                    rows.append(await _row(url, judge, records, k, args, f"k={k}"))
            rows += [oracle_bound(r) for r in rows if r["row"] == f"k={max(args.k)}"]
        router = dict(ROUTER)
        if args.cost_weight is not None:
            router["cost_weight"] = args.cost_weight
        with local_gateway(dataset, "replay", strategy=router, own_store=True) as url:
            for p in range(args.passes):
                rows.append(await _row(url, judge, records, None, args, f"router pass {p + 1}"))
    finally:
        cache.close()
    return {
        "dataset": args.dataset,
        "date": time.strftime("%Y-%m-%d"),
        "router": router,
        "rows": rows,
    }


def run_routing_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        result = asyncio.run(bench(args))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"atlas bench routing: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    title = f"routing on {result['dataset']}, {result['date']} (replay, hidden tests)"
    plot(result["rows"], args.plot, title)
    print("| row | pass@1 | candidates / problem | routes | wall |")
    print("|---|---:|---:|---|---:|")
    for row in result["rows"]:
        routes = ", ".join(f"{k} {v}" for k, v in sorted(row["routes"].items()))
        print(
            f"| {row['row']} | {row['pass_at_1']:.1%} | {row['candidates_per_problem']:.2f} "
            f"| {routes} | {row['wall_s']} s |"
        )
    return 0
