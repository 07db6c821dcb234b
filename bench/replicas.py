"""Two replicas against one: what sharing keys and limits through one Redis costs.

One redis-server, one scripted upstream (`tests.fakes.upstream`), two `atlas serve`
processes on that Redis, and two loopback balancers (`bench/balancer.py`, round robin
per request): one in front of replica A alone, one in front of A and B. Each target is
measured in the same run, in rounds whose order rotates, with a keep-alive client of our
own (latency per request from `perf_counter_ns`, finer than hey's 0.1 ms): the upstream
direct, A direct, and each balancer with the master key (no Redis on the request path)
and with an API key that has limits it never reaches (the key cache, then one EVALSHA
to admit, the charge and the release, every request). The figure of interest: the
two-replica p50 with the key and limits against the one-replica p50, both behind a
balancer (issue 16's target: within 0.3 ms).

    make bench-replicas                         # 2,000 requests per target and concurrency
    make bench-replicas ARGS="--requests 4000 --rounds 8 --no-doc"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench.balancer import read_message
from bench.gateway_process import GatewayProcess, start_gateway_process
from bench.overhead import BENCH_LIMITS, BODY, MASTER_KEY, free_port, start
from bench.report import write_section
from config import RedisSettings
from config.accounts import AccountsSettings
from gateway.accounts.service import open_accounts
from gateway.wiring.redis_store import open_store

PATH = "/v1/chat/completions"
CONCURRENCY = (1, 8)
WARM_UP = 200  # requests per target before each concurrency's rounds
PREFIX = "bench-replicas:"


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    key: str


@dataclass
class Result:
    target: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _request(key: str) -> bytes:
    body = BODY.encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _one_connection(port: int, request: bytes, count: int, out: list[int]) -> int:
    """Send `count` requests in turn on one keep-alive connection; returns non-200s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        for _ in range(count):
            started = time.perf_counter_ns()
            writer.write(request)
            answer = await read_message(reader)
            out.append(time.perf_counter_ns() - started)
            if answer is None or not answer.startswith(b"HTTP/1.1 200"):
                errors += 1
                if answer is None:
                    break
    finally:
        writer.close()
    return errors


async def load(target: Target, count: int, concurrency: int) -> tuple[list[int], float, int]:
    """(latencies in ns, seconds, errors) of `count` requests over `concurrency` links."""
    request = _request(target.key)
    latencies: list[int] = []
    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(_one_connection(target.port, request, n, latencies) for n in shares)
    )
    return latencies, time.perf_counter() - started, sum(errors)


def _redis_server(stack: ExitStack, work: Path) -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = start(stack, [*command, "--appendonly", "no", "--dir", str(work)], {}, work / "r.log")
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def _limited_key(redis_url: str) -> str:
    async def make() -> str:
        settings = RedisSettings(url=redis_url, prefix=PREFIX)
        async with (
            open_store(settings, role="command") as store,
            open_accounts(store.redis, store.prefix, AccountsSettings()) as accounts,
        ):
            user = await accounts.users.create("bench", "bench password, not secret")
            created = await accounts.keys.create(user.id, "limits", limits=BENCH_LIMITS)
            return created.key

    return asyncio.run(make())


def _port(gateway: GatewayProcess) -> int:
    return int(gateway.url.rsplit(":", 1)[1])


def _balancer(stack: ExitStack, work: Path, name: str, backends: list[int]) -> int:
    port = free_port()
    command = [sys.executable, "-m", "bench.balancer", "--port", str(port)]
    for backend in backends:
        command += ["--backend", f"127.0.0.1:{backend}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    start(stack, command, env, work / f"{name}.log")
    _wait_health(f"http://127.0.0.1:{port}", name)
    return port


def _wait_health(url: str, name: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not start")


def _gateway_config(redis_url: str, upstream: str) -> str:
    return (
        f'master_key = "{MASTER_KEY}"\nlog_level = "warning"\n\n'
        f'[redis]\nurl = "{redis_url}"\nprefix = "{PREFIX}"\n\n'
        f'[[models]]\nname = "coder"\nupstreams = ["{upstream}"]\n'
    )


def targets(stack: ExitStack, work: Path) -> list[Target]:
    redis_url = _redis_server(stack, work)
    up_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    upstream_cmd = [sys.executable, "-m", "tests.fakes.upstream", "--port", str(up_port)]
    start(stack, upstream_cmd, env, work / "upstream.log")
    upstream = f"http://127.0.0.1:{up_port}"
    _wait_health(upstream, "the scripted upstream")
    config = _gateway_config(redis_url, upstream)
    a = _port(start_gateway_process(stack, config, "atlas-bench-replica-a-"))
    b = _port(start_gateway_process(stack, config, "atlas-bench-replica-b-"))
    key = _limited_key(redis_url)
    one = _balancer(stack, work, "balancer-one", [a])
    two = _balancer(stack, work, "balancer-two", [a, b])
    return [
        Target("upstream direct", up_port, MASTER_KEY),
        Target("A direct, key+limits", a, key),
        Target("1 replica, master key", one, MASTER_KEY),
        Target("2 replicas, master key", two, MASTER_KEY),
        Target("1 replica, key+limits", one, key),
        Target("2 replicas, key+limits", two, key),
    ]


def _percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, round(q * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


@dataclass
class Pooled:
    """One target's requests over every round of one concurrency."""

    latencies_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    def result(self, target: str, concurrency: int) -> Result:
        self.latencies_ns.sort()
        return Result(
            target=target,
            concurrency=concurrency,
            requests=len(self.latencies_ns),
            rps=len(self.latencies_ns) / self.seconds,
            p50_ms=_percentile(self.latencies_ns, 0.5),
            p99_ms=_percentile(self.latencies_ns, 0.99),
            errors=self.errors,
        )


async def _rounds(
    all_targets: list[Target], requests: int, rounds: int, concurrency: int
) -> dict[str, Pooled]:
    for target in all_targets:
        await load(target, WARM_UP, concurrency)
    pooled = {t.name: Pooled() for t in all_targets}
    for r in range(rounds):
        shift = r % len(all_targets)
        for target in all_targets[shift:] + all_targets[:shift]:
            latencies, seconds, errors = await load(target, requests // rounds, concurrency)
            got = pooled[target.name]
            got.latencies_ns.extend(latencies)
            got.seconds += seconds
            got.errors += errors
    return pooled


async def measure(all_targets: list[Target], requests: int, rounds: int) -> list[Result]:
    results = []
    for concurrency in CONCURRENCY:
        pooled = await _rounds(all_targets, requests, rounds, concurrency)
        for target in all_targets:
            result = pooled[target.name].result(target.name, concurrency)
            results.append(result)
            print(
                f"c={concurrency:<2d} {target.name:24s} rps={result.rps:8.1f} "
                f"p50={result.p50_ms:6.3f} ms p99={result.p99_ms:6.3f} ms errors={result.errors}",
                flush=True,
            )
    return results


def table(results: list[Result]) -> str:
    lines = [
        "| target | concurrency | requests | RPS | p50 (ms) | p99 (ms) | non-200 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.target} | {r.concurrency} | {r.requests} | {r.rps:.0f} | {r.p50_ms:.3f} "
        f"| {r.p99_ms:.3f} | {r.errors} |"
        for r in results
    ]
    by = {(r.target, r.concurrency): r for r in results}
    notes = []
    for c in CONCURRENCY:
        for kind in ("key+limits", "master key"):
            one, two = by[(f"1 replica, {kind}", c)], by[(f"2 replicas, {kind}", c)]
            notes.append(
                f"- c={c}, {kind}: 2 replicas against 1: p50 {two.p50_ms - one.p50_ms:+.3f} ms "
                f"({two.p50_ms / one.p50_ms:.2f}x), p99 {two.p99_ms - one.p99_ms:+.3f} ms "
                f"({two.p99_ms / one.p99_ms:.2f}x), RPS {two.rps / one.rps:.2f}x"
            )
        up, one = by[("upstream direct", c)], by[("1 replica, key+limits", c)]
        two = by[("2 replicas, key+limits", c)]
        notes.append(
            f"- c={c}: added over the upstream (key+limits, behind the balancer): "
            f"1 replica {one.p50_ms - up.p50_ms:+.3f} ms p50, "
            f"2 replicas {two.p50_ms - up.p50_ms:+.3f} ms p50"
        )
    return "\n".join([*lines, "", *notes])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="per target and concurrency")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-replicas-"))
    with ExitStack() as stack:
        all_targets = targets(stack, work)
        load_avg = os.getloadavg()[0]
        results = asyncio.run(measure(all_targets, args.requests, args.rounds))
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "replicas.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    body = (
        "## Two replicas against one (shared keys and limits)\n\n"
        f"`make bench-replicas`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}, load average "
        f"{load_avg:.1f} at the start. One redis-server on loopback, the scripted upstream, "
        "two `atlas serve` processes on that Redis and the loopback balancers of "
        "`bench/balancer.py` (round robin per request), all on the same cores; "
        f"{args.requests:,} non-streaming chat completions per target and concurrency in "
        f"{args.rounds} rounds of rotating order, after {WARM_UP} warm-up requests; "
        "latency per request from our own keep-alive client.\n\n" + table(results)
    )
    print(body)
    if not args.no_doc:
        write_section("replicas", body)


if __name__ == "__main__":
    main()
