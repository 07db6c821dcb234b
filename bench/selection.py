"""`atlas bench selection`: does best-of-k pick right answers? Measured on replay data.

    atlas bench selection --dataset codet-a --k 1,5,10 [--repeats R] [--docs]
    atlas bench selection --dataset codet-b --k 1,2,5,10,100 --baseline-only

For each k and problem, the record's messages go through the gateway as an OpenAI client
sends them (`extra_body={"atlas": {"k": k}}`, `seed = repeat * k`); the answer's code is
judged against the record's hidden tests in the sandbox (the gateway never sees them).
Baselines come from the pass matrix of every sample against the hidden tests, computed
once and cached (resumable) in a content-keyed file next to the dataset. `codet-a` and
`codet-b` convert the CodeT HumanEval release into bench/out/ on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import msgspec
import openai
from tqdm import tqdm

from bench import codet_convert
from bench.passk import mean_pass_at_k, mixed_problems
from bench.passmatrix import HiddenTests, VerdictCache, answer_code, pass_matrix
from bench.selection_report import Outcome, summarise, write_outputs
from engines.replay import ReplayRecord
from sandbox import Sandbox, SandboxConfig

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
SHORTCUTS: dict[str, codet_convert.Variant] = {"codet-a": "a", "codet-b": "b"}
SHARED_CODET_CACHE = OUT_DIR / "codet_humaneval.passmatrix.jsonl"
BASELINE_KS = (1, 2, 5, 10, 100)
REQUEST_TIMEOUT_S = 900.0


def add_bench_selection_command(bench_subparsers: Any) -> None:
    """Register `selection` under the gateway's `bench` command group."""
    bench = bench_subparsers.add_parser(
        "selection",
        help="best-of-k selection on replay data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--dataset",
        required=True,
        help="replay dataset (JSONL with hidden_tests), or codet-a / codet-b",
    )
    bench.add_argument("--k", type=_ks, default=(1, 5, 10), help="comma-separated k values")
    bench.add_argument(
        "--gateway-url",
        help="a running gateway's base URL (.../v1); default: "
        "start one in-process on a replay model for the dataset",
    )
    bench.add_argument("--model", default="replay", help="model name to request")
    bench.add_argument("--api-key", default=os.environ.get("ATLAS_API_KEY", "sk-bench"))
    bench.add_argument("--repeats", type=int, default=1, help="seed bases per k: 0, k, 2k, ...")
    bench.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    bench.add_argument(
        "--sandbox-concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="jails running hidden tests at once",
    )
    bench.add_argument("--out", type=Path, default=OUT_DIR / "selection")
    bench.add_argument("--limit", type=int, help="only the first N problems")
    bench.add_argument(
        "--test-requests",
        type=int,
        default=0,
        help="test-writing requests per problem for the in-process gateway "
        "(0: the gateway's automatic count; CodeT's setting is 100)",
    )
    bench.add_argument("--passmatrix", type=Path, help="verdict cache (default: next to dataset)")
    bench.add_argument(
        "--baseline-only",
        action="store_true",
        help="only the pass-matrix figures; send no requests",
    )
    bench.add_argument(
        "--docs",
        action="store_true",
        help="write every result in --out to docs/benchmarks.md (selection)",
    )
    bench.set_defaults(func=run_selection_bench)


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k wants integers like 1,5,10, not {text!r}") from None
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError("--k values must be >= 1")
    return ks


def resolve_dataset(name: str, out_dir: Path = OUT_DIR) -> tuple[Path, Path]:
    """(dataset path, verdict cache path); converts a codet-* shortcut on first use."""
    variant = SHORTCUTS.get(name)
    if variant is None:
        path = Path(name)
        return path, path.with_name(path.name + ".passmatrix.jsonl")
    path = out_dir / f"codet_humaneval_{variant}.jsonl"
    if not path.exists():
        codet_convert.write_jsonl(codet_convert.convert(variant), path)
    return path, out_dir / SHARED_CODET_CACHE.name


def load_records(path: Path, limit: int | None = None) -> list[ReplayRecord]:
    decoder = msgspec.json.Decoder(ReplayRecord)
    records = [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]
    missing = [r.id for r in records if not r.hidden_tests]
    if missing:
        raise ValueError(f"{path}: records without hidden_tests: {', '.join(missing[:5])}")
    return records[:limit] if limit else records


async def ask(
    client: openai.AsyncOpenAI, model: str, record: ReplayRecord, k: int, seed: int
) -> tuple[str, dict[str, str], int]:
    """(answer text, x-atlas-* headers, total tokens) for one request through the gateway."""
    raw = await client.chat.completions.with_raw_response.create(
        model=model,
        messages=record.messages,  # type: ignore[arg-type]
        seed=seed,
        extra_body={"atlas": {"k": k}},
    )
    completion = raw.parse()
    headers = {
        name.lower(): value
        for name, value in raw.headers.items()
        if name.lower().startswith("x-atlas-")
    }
    tokens = completion.usage.total_tokens if completion.usage else 0
    if "x-atlas-total-tokens" in headers:
        tokens = int(headers["x-atlas-total-tokens"])
    return completion.choices[0].message.content or "", headers, tokens


async def one_request(
    client: openai.AsyncOpenAI,
    judge: HiddenTests,
    model: str,
    record: ReplayRecord,
    k: int,
    repeat: int,
) -> Outcome:
    seed = repeat * k
    started = time.perf_counter()
    try:
        content, headers, tokens = await ask(client, model, record, k, seed)
    except openai.APIError as exc:
        logger.warning("%s k=%d seed=%d: request failed: %s", record.id, k, seed, exc)
        return Outcome(
            problem=record.id,
            k=k,
            repeat=repeat,
            seed=seed,
            passed=False,
            latency_s=time.perf_counter() - started,
            error=str(exc)[:200],
        )
    latency = time.perf_counter() - started
    passed = await judge.passed(answer_code(content), record.hidden_tests or "")
    return Outcome(
        problem=record.id,
        k=k,
        repeat=repeat,
        seed=seed,
        passed=passed,
        latency_s=latency,
        tokens=tokens,
        headers=headers,
    )


async def run_k(
    client: openai.AsyncOpenAI,
    judge: HiddenTests,
    args: argparse.Namespace,
    records: list[ReplayRecord],
    k: int,
) -> tuple[list[Outcome], float]:
    jobs = [(record, repeat) for repeat in range(args.repeats) for record in records]
    slots = asyncio.Semaphore(max(1, args.concurrency))
    outcomes: list[Outcome] = []
    with tqdm(total=len(jobs), desc=f"k={k}", unit="req") as bar:

        async def run(record: ReplayRecord, repeat: int) -> None:
            async with slots:
                outcomes.append(await one_request(client, judge, args.model, record, k, repeat))
            bar.update(1)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for record, repeat in jobs:
                group.create_task(run(record, repeat))
    return sorted(outcomes, key=lambda o: (o.repeat, o.problem)), time.perf_counter() - started


async def compute_matrix(
    records: list[ReplayRecord], judge: HiddenTests, concurrency: int
) -> dict[str, list[bool]]:
    total = sum(len(r.samples) for r in records)
    with tqdm(total=total, desc="pass matrix", unit="sample") as bar:
        return await pass_matrix(
            [(r.id, r.samples, r.hidden_tests or "") for r in records],
            judge,
            concurrency * 2,
            bar.update,
        )


def baseline(matrix: dict[str, list[bool]], ks: tuple[int, ...]) -> dict[str, Any]:
    n = min(len(row) for row in matrix.values())
    return {
        "problems": len(matrix),
        "samples_per_problem": n,
        "mixed_problems": mixed_problems(matrix),
        "oracle_pass_at_k": {
            str(k): mean_pass_at_k(matrix, k) for k in sorted(set(ks) | set(BASELINE_KS)) if k <= n
        },
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    dataset, default_cache = resolve_dataset(args.dataset)
    records = load_records(dataset, args.limit)
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=args.sandbox_concurrency))
    if not sandbox.available:
        raise RuntimeError(f"sandbox unavailable: {sandbox.availability.reason}")
    cache = VerdictCache(args.passmatrix or default_cache)
    judge = HiddenTests(sandbox, cache)
    result: dict[str, Any] = {
        "dataset": args.dataset,
        "path": str(dataset),
        "repeats": args.repeats,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
    }
    try:
        matrix = await compute_matrix(records, judge, args.sandbox_concurrency)
        result["baseline"] = baseline(matrix, args.k)
        result["gateway"] = None if args.baseline_only else args.gateway_url or "in-process"
        result["rows"] = (
            [] if args.baseline_only else await _gateway_rows(args, dataset, records, judge, matrix)
        )
    finally:
        cache.close()
    return result


async def _gateway_rows(
    args: argparse.Namespace,
    dataset: Path,
    records: list[ReplayRecord],
    judge: HiddenTests,
    matrix: dict[str, list[bool]],
) -> list[dict[str, Any]]:
    from bench.local_gateway import local_gateway

    with ExitStack() as stack:
        url = args.gateway_url or stack.enter_context(
            local_gateway(dataset, args.model, args.test_requests)
        )
        client = openai.AsyncOpenAI(
            base_url=url, api_key=args.api_key, max_retries=0, timeout=REQUEST_TIMEOUT_S
        )
        rows = []
        async with client:
            for k in args.k:
                outcomes, wall = await run_k(client, judge, args, records, k)
                rows.append(
                    {
                        **summarise(k, outcomes, matrix, wall),
                        "outcomes": [asdict(o) for o in outcomes],
                    }
                )
        return rows


def run_selection_bench(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if args.repeats < 1 or (args.limit is not None and args.limit < 1):
        print("atlas bench selection: --repeats and --limit must be >= 1", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(bench(args))
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"atlas bench selection: {exc}", file=sys.stderr)
        return 1
    print(write_outputs(result, args.out, docs=args.docs))
    errors = sum(row["errors"] for row in result["rows"])
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.selection")
    add_bench_selection_command(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["selection", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
