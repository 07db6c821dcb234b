"""Memory that comes back: the gateway's RSS before, during and after a hostile burst.

    make bench-memory                      # 200 non-reading streams + 4 answers of 50 MB
    make bench-memory ARGS="--streams 50"  # a smaller burst

The gateway runs as its own process (so its RSS is its own) against a scripted upstream
in this process that answers every stream with 50 MB of SSE. After a warm-up, the burst
opens `--streams` streaming requests that never read and fetches `--huge` 50 MB JSON
answers in full; the gateway's write timeout drops the non-readers. RSS is sampled every
second until `--settle-s` after the burst; the target is within 10 % of the pre-burst
level: RSS after a warm-up of as many well-behaved streams at once as the burst brings,
so the comparison isolates what the hostility leaves. It writes the `memory` section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from typing import Any

import httpx
import msgspec

from bench.gateway_process import GatewayProcess, start_gateway_process
from bench.report import write_section
from tests.fakes.faulty_upstream import FaultyUpstream

KEY = "sk-bench-memory-return-0123456789abcdef"
TARGET = 1.10
BODY = {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def start_gateway(stack: ExitStack, upstream: str, write_timeout_s: float) -> GatewayProcess:
    return start_gateway_process(
        stack,
        f'master_key = "{KEY}"\nlog_level = "warning"\nwrite_timeout_s = {write_timeout_s}\n\n'
        f'[[models]]\nname = "coder"\nkind = "openai"\nupstreams = ["{upstream}"]\n',
        "atlas-memory-",
    )


async def non_reader(port: int) -> asyncio.StreamWriter:
    """A streaming request whose client never reads a byte of the answer."""
    body = json.dumps(BODY | {"stream": True}).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\n"
        b"authorization: Bearer " + KEY.encode() + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    return writer


async def burst(url: str, streams: int, huge: int, hold_s: float) -> None:
    port = int(url.rsplit(":", 1)[1])
    writers = await asyncio.gather(*(non_reader(port) for _ in range(streams)))
    async with httpx.AsyncClient(timeout=120) as client:
        headers = {"authorization": f"Bearer {KEY}"}
        answers = await asyncio.gather(
            *(
                client.post(url + "/v1/chat/completions", json=BODY, headers=headers)
                for _ in range(huge)
            )
        )
    if any(a.status_code != 200 or len(a.content) < 50_000_000 for a in answers):
        raise RuntimeError(f"a 50 MB answer failed: {[a.status_code for a in answers]}")
    await asyncio.sleep(hold_s)  # the write timeout drops the non-readers in this time
    for writer in writers:
        writer.transport.abort()


class Burst(msgspec.Struct, frozen=True):
    peak_mb: float
    end_mb: float  # when the burst's last client has gone
    after_mb: float  # `--settle-s` later


def measure(args: argparse.Namespace) -> tuple[float, float, list[Burst]]:
    """RSS after a sequential warm-up, after a concurrent one (before the first burst),
    and the figures of each burst."""
    with ExitStack() as stack:
        upstream = FaultyUpstream().start()
        stack.callback(upstream.stop)
        gateway = start_gateway(stack, upstream.url, args.write_timeout_s)
        url, rss_mb = gateway.url, gateway.rss_mb
        headers = {"authorization": f"Bearer {KEY}"}
        for index in range(50):  # warm-up: imports, pools and caches a normal day fills
            body = BODY | {"stream": index % 2 == 1}
            httpx.post(url + "/v1/chat/completions", json=body, headers=headers).raise_for_status()
        time.sleep(2)
        sequential = rss_mb()
        # ... and as many clients at once as the burst will bring, all reading their
        # answers: what is left after the burst is then what the hostility left.
        asyncio.run(well_behaved(url, args.streams))
        time.sleep(args.settle_s)
        before = rss_mb()
        bursts: list[Burst] = []
        for _ in range(args.bursts):
            upstream.set("huge_answer")
            samples = asyncio.run(
                sampled(rss_mb, burst(url, args.streams, args.huge, args.write_timeout_s + 5))
            )
            upstream.set(None)
            after = [samples[-1]]
            for _ in range(int(args.settle_s)):
                time.sleep(1)
                after.append(rss_mb())
            bursts.append(Burst(max(samples + after), samples[-1], after[-1]))
        return sequential, before, bursts


async def well_behaved(url: str, clients: int) -> None:
    """`clients` streams at once, each read to its end."""
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        headers = {"authorization": f"Bearer {KEY}"}
        body = BODY | {"stream": True}
        answers = await asyncio.gather(
            *(
                client.post(url + "/v1/chat/completions", json=body, headers=headers)
                for _ in range(clients)
            )
        )
    if any(a.status_code != 200 or b"[DONE]" not in a.content for a in answers):
        raise RuntimeError("a well-behaved stream failed in the warm-up")


async def sampled(rss_mb: Callable[[], float], work: Coroutine[Any, Any, None]) -> list[float]:
    """RSS every second while `work` runs, and once at its end."""
    task = asyncio.create_task(work)
    samples = []
    while not task.done():
        samples.append(rss_mb())
        await asyncio.wait({task}, timeout=1)
    await task
    return [*samples, rss_mb()]


def report(args: argparse.Namespace, sequential: float, before: float, bursts: list[Burst]) -> str:
    lines = [
        f"`make bench-memory`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores: the "
        f"gateway's RSS around bursts of {args.streams} streams that never read and "
        f"{args.huge} answers of 50 MB each (write timeout {args.write_timeout_s:g} s). "
        f"Before the first burst: {sequential:.0f} MB after 50 requests one at a time, "
        f"{before:.0f} MB after {args.streams} well-behaved streams at once (the level "
        "compared with: what having served that many clients costs anyway).",
        "",
        f"| burst | peak | its clients gone | {args.settle_s:g} s later | later / before |",
        "|---:|---:|---:|---:|---:|",
    ]
    for number, b in enumerate(bursts, 1):
        lines.append(
            f"| {number} | {b.peak_mb:.0f} MB | {b.end_mb:.0f} MB | {b.after_mb:.0f} MB "
            f"| {b.after_mb / before:.3f} |"
        )
    worst = max(b.after_mb for b in bursts) / before
    verdict = "met" if worst <= TARGET else "missed"
    lines += ["", f"Target: within {TARGET - 1:.0%} of the level before ({verdict}: {worst:.3f})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--huge", type=int, default=4)
    parser.add_argument("--write-timeout-s", type=float, default=5.0)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=30.0)
    parser.add_argument("--doc", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args()
    sequential, before, bursts = measure(args)
    text = report(args, sequential, before, bursts)
    print(text)
    if args.doc:
        write_section("memory", text)
    sys.exit(0 if max(b.after_mb for b in bursts) <= before * TARGET else 1)


if __name__ == "__main__":
    main()
