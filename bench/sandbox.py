"""Sandbox throughput: verdicts per second and latency for a small Python candidate.

Usage: python -m bench.sandbox [--n 200] [--no-docs]
Checks a 10-line Python function against 5 asserts in real nsjail, at concurrency 1 and 2,
and writes the figures to the `## Sandbox` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from sandbox import Sandbox, SandboxConfig, TestCase

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
CANDIDATE = """\
def running_max(values):
    \"\"\"The running maximum of a list of numbers.\"\"\"
    result = []
    best = None
    for value in values:
        if best is None or value > best:
            best = value
        result.append(best)
    return result
"""
TESTS = [
    TestCase(kind="assert", code=code)
    for code in (
        "assert running_max([]) == []",
        "assert running_max([1]) == [1]",
        "assert running_max([1, 3, 2]) == [1, 3, 3]",
        "assert running_max([5, 4, 3]) == [5, 5, 5]",
        "assert running_max([-1, 0, -2, 7]) == [-1, 0, 0, 7]",
    )
]


async def measure(sandbox: Sandbox, concurrency: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            verdict = await sandbox.check(CANDIDATE, TESTS, "python")
            latencies.append(time.perf_counter() - started)
            if not verdict.passed:
                raise SystemExit(f"benchmark candidate failed: {verdict!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "n": total,
        "per_s": total / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def section(rows: list[dict[str, float]], load: float) -> str:
    lines = [
        "## Sandbox",
        "",
        "`make bench-sandbox`: `sandbox.check()` of a 10-line Python function against 5 asserts,",
        "each verdict a fresh nsjail (all asserts in one jailed process). Target on 2 cores:",
        ">= 40 verdicts/s, p50 <= 50 ms.",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
        f" (gateway); measured {time.strftime('%Y-%m-%d')}; 1-minute load average before the"
        f" run: {load:.1f} (anything above 0 is other work competing for the 2 cores).",
        "",
        "| concurrency | verdicts | verdicts/s | p50 (ms) | p99 (ms) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['concurrency']:.0f} | {r['n']:.0f} | {r['per_s']:.1f} | {r['p50_ms']:.1f} |"
        f" {r['p99_ms']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    """Replace the `## Sandbox` section of docs/benchmarks.md, keeping every other section."""
    old = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Sandbox"), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(new)


async def main(total: int, docs: bool) -> int:
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=2))
    if not sandbox.available:
        print(f"sandbox unavailable: {sandbox.availability.reason}", file=sys.stderr)
        return 1
    load = os.getloadavg()[0]
    try:
        await measure(sandbox, 2, 10)  # warm the page cache
        rows = [await measure(sandbox, concurrency, total) for concurrency in (1, 2)]
    finally:
        await sandbox.close()
    text = section(rows, load)
    print(text)
    if docs:
        write_docs(text)
        print(f"written to {DOCS}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="verdicts per concurrency level")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.n, not args.no_docs)))
