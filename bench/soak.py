"""Soak: the real gateway, in a process of its own, against a scripted upstream for a long run.

    make bench-soak                          # 30 minutes at 80 % of the measured peak
    make bench-soak ARGS="--duration 60 --peak-concurrency 4"   # a smoke run

It measures the peak (closed loop of JSON requests for `--peak-s`), then sends, open
loop at `--load` x peak, a mix of JSON requests, streams, best-of-k (`x-atlas-k: 2` on
a code prompt with an `assert`, verified in the sandbox) and slow readers (streams read
a chunk every `--slow-read-s`). Every 10 s it records throughput, p50/p99 latency,
errors and the RSS of the gateway, which runs as a process of its own (`atlas serve`),
so the load generator's growing list of samples is not counted. It writes
docs/img/soak.png and the `soak` section of docs/benchmarks.md; the targets are zero
errors, RSS growth under 10 % and a stable p99.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.gateway_process import GatewayProcess, start_gateway_process
from bench.overhead import free_port, start
from bench.report import write_section
from bench.soak_report import Sample, plot, section, verdict, windows

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "docs" / "img" / "soak.png"
WINDOW_S = 10.0
# The upstream's answer: a code block, so best-of-k has something to verify.
ANSWER = "```python\ndef add(a, b):\n    return a + b\n```"
CODE_PROMPT = "Write add(a, b) in Python.\n\nassert add(2, 3) == 5\nassert add(-1, 1) == 0"
# One cycle of the mix: mostly JSON, then streams, a best-of-k call and a slow reader.
MIX = ("json", "stream", "json", "bok", "json", "stream", "json", "slow")
MAX_IN_FLIGHT = 256  # beyond this the gateway is not keeping up: the run says so


def _config(upstream: str) -> str:
    """The gateway's TOML (after its port): best-of-k allowed up to k=2, no repair."""
    return (
        'log_level = "warning"\n\n'
        f'[[models]]\nname = "coder"\nkind = "openai"\nupstreams = ["{upstream}"]\n\n'
        '[models.strategy]\ntype = "best_of_k"\nk = 1\nmax_k = 2\nrepair_rounds = 0\n'
    )


def _request(kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    prompt = CODE_PROMPT if kind == "bok" else "Say hello."
    body: dict[str, Any] = {
        "model": "coder",
        "max_tokens": 32,
        "stream": kind in ("stream", "slow"),
        "messages": [{"role": "user", "content": prompt}],
    }
    return body, ({"x-atlas-k": "2"} if kind == "bok" else {})


async def _one(client: httpx.AsyncClient, kind: str, slow_read_s: float) -> bool:
    body, headers = _request(kind)
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as reply:
        if not body["stream"]:
            data = await reply.aread()
            return reply.status_code == 200 and b'"choices"' in data
        last = b""
        async for line in reply.aiter_lines():
            if line:
                last = line.encode()
                if kind == "slow":
                    await asyncio.sleep(slow_read_s)
        return reply.status_code == 200 and last == b"data: [DONE]"


async def _timed(
    client: httpx.AsyncClient, kind: str, t0: float, slow_read_s: float, into: list[Sample]
) -> None:
    started = time.monotonic()
    try:
        ok = await _one(client, kind, slow_read_s)
    except httpx.HTTPError:
        ok = False
    end = time.monotonic()
    into.append(Sample(end - t0, kind, end - started, ok))


async def measure_peak(
    client: httpx.AsyncClient, concurrency: int, seconds: float, slow_read_s: float
) -> float:
    """Requests/s of the mix from a closed loop of `concurrency` clients."""
    done: list[Sample] = []
    kinds = itertools.cycle(MIX)
    t0 = time.monotonic()

    async def worker() -> None:
        while time.monotonic() - t0 < seconds:
            await _timed(client, next(kinds), t0, slow_read_s, done)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sum(s.ok for s in done) / (time.monotonic() - t0)


async def soak(
    client: httpx.AsyncClient,
    rps: float,
    duration_s: float,
    slow_read_s: float,
    rss_mb: Callable[[], float],
) -> tuple[list[Sample], list[float]]:
    """Open loop at `rps` for `duration_s`; the samples and the RSS at each window's end."""
    samples: list[Sample] = []
    rss: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    kinds = itertools.cycle(MIX)
    t0 = time.monotonic()
    for n in itertools.count():
        due = t0 + n / rps
        now = time.monotonic()
        while len(rss) < int((now - t0) // WINDOW_S):
            rss.append(rss_mb())
        if now - t0 >= duration_s:
            break
        if due > now:
            await asyncio.sleep(due - now)
        if len(tasks) >= MAX_IN_FLIGHT:  # counted as an error: the gateway fell behind
            samples.append(Sample(time.monotonic() - t0, "shed", 0.0, False))
            continue
        task = asyncio.create_task(_timed(client, next(kinds), t0, slow_read_s, samples))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return [s for s in samples if s.end_s < len(rss) * WINDOW_S], rss


async def run(
    args: argparse.Namespace, gateway: GatewayProcess
) -> tuple[float, list[Sample], list[float]]:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60, limits=limits) as client:
        peak = await measure_peak(client, args.peak_concurrency, args.peak_s, args.slow_read_s)
        samples, rss = await soak(
            client, args.load * peak, args.duration, args.slow_read_s, gateway.rss_mb
        )
    return peak, samples, rss


def main_soak(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        work = Path(stack.enter_context(_tempdir()))
        port = free_port()
        upstream = start(
            stack,
            [
                sys.executable,
                "-m",
                "tests.fakes.upstream",
                "--port",
                str(port),
                "--content",
                ANSWER,
                "--chunk-delay-s",
                str(args.chunk_delay_s),
            ],
            env=dict(os.environ),
            log=work / "upstream.log",
            cwd=ROOT,  # tests/ is not installed: run it from the checkout
        )
        _wait_listening(port, upstream)
        gateway = start_gateway_process(stack, _config(f"http://127.0.0.1:{port}"), "atlas-soak-")
        peak, samples, rss = asyncio.run(run(args, gateway))
    if not rss:
        sys.stderr.write("soak: the run was shorter than one window\n")
        return 1
    run_windows = windows(samples, rss, WINDOW_S)
    result = verdict(run_windows)
    label = args.label or f"{args.duration:g} s run"
    plot(run_windows, args.image, f"soak ({label}): {args.load:.0%} of {peak:.0f} req/s peak")
    argv = [a for a in sys.argv[1:] if a != "soak"]
    header = (
        f"**{label}**, {time.strftime('%Y-%m-%d')}, `make bench-soak "
        f'ARGS="{shlex.join(argv)}"`. '
        f"Peak {peak:.1f} req/s (a closed loop of the mix, "
        f"{args.peak_concurrency} clients, {args.peak_s:g} s), then open loop at "
        f"{args.load:.0%} of it ({args.load * peak:.1f} req/s) for {args.duration:g} s, "
        f"cycling {'/'.join(MIX)} (bok: best-of-k, `x-atlas-k: 2` on a prompt with asserts, "
        f"verified in the sandbox; slow: a stream read a line every {args.slow_read_s:g} s). "
        f"Upstream: tests/fakes/upstream.py (answers at once). Percentiles leave out the "
        f"slow readers, whose time the client sets. RSS is the gateway's own (a process of "
        f"its own, `atlas serve`). The target run is `make bench-soak` (1800 s at 80 % of peak)."
    )
    write_section("soak", section(run_windows, result, header, "img/" + args.image.name))
    sys.stdout.write(
        f"peak {peak:.1f} req/s; {result.requests} requests, {result.errors} errors; RSS "
        f"{result.rss_first_mb:.0f} -> {result.rss_last_mb:.0f} MB "
        f"({result.rss_growth_pct:+.1f} %); p99 {result.p99_first_ms:.0f} -> "
        f"{result.p99_last_ms:.0f} ms; {'PASS' if result.passed else 'FAIL'}\n"
    )
    failed = collections.Counter(s.kind for s in samples if not s.ok)
    if failed:
        sys.stdout.write(f"errors by kind: {dict(failed)}\n")
    return 0 if result.passed else 1


def _tempdir() -> Any:
    import tempfile

    return tempfile.TemporaryDirectory(prefix="atlas-soak-")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the scripted upstream exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the scripted upstream did not start")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of soak")
    parser.add_argument("--peak-s", type=float, default=10.0, help="seconds measuring peak")
    parser.add_argument("--peak-concurrency", type=int, default=16)
    parser.add_argument("--load", type=float, default=0.8, help="fraction of peak to send")
    parser.add_argument("--slow-read-s", type=float, default=0.2, help="slow reader's pause")
    parser.add_argument("--chunk-delay-s", type=float, default=0.0, help="upstream, per chunk")
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--label", help="how the doc names the run (default: its duration)")


def add_bench_soak_command(bench_subparsers: Any) -> None:
    """Register `soak` under `atlas bench`."""
    bench = bench_subparsers.add_parser(
        "soak",
        help="long run of mixed traffic: errors, RSS, p99 over time",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(bench)
    bench.set_defaults(func=main_soak)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__)
    add_arguments(parser)
    return main_soak(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
