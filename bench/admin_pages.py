"""The admin UI's page-load budget: every page in under 100 ms with 10,000 usage records
and 1,000 traces stored.

    make bench-admin-pages                      # writes its section of docs/benchmarks.md
    make bench-admin-pages ARGS="--events 20000"  # a heavier ledger

A gateway (in this process, on a loopback port, its embedded Redis in a temporary data
dir) is seeded first: `--events` usage events through the real `UsageRecorder`, spread
over the last 30 days, `--keys` keys of 10 users and 3 models (so the default 30-day
usage page reads thousands of ledger rows), and `--traces` traces in its ring, half of
them best-of-k with 4 candidates. Then an admin signs in and each page is fetched
`--rounds` times over one keep-alive connection; the figure is the time from request to
the last byte, which bounds the server's time from above (loopback adds about 0.2 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import msgspec

from bench.report import write_section
from config import Settings
from gateway.accounts.service import open_accounts
from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.app import create_app
from gateway.serving import server_options
from gateway.telemetry.traces import Trace, TraceCandidate
from gateway.testing import serve_in_thread
from gateway.wiring.redis_store import open_store
from tests.fakes.upstream import ScriptedUpstream

BUDGET_MS = 100.0
MASTER = "mk-bench-admin-pages-0123456789abcdef0123"
PASSWORD = "bench admin password"
MODELS = ("coder", "coder-large", "embed")
ROUTES = ("fast", "best-of-k")


def settings_for(upstream: str, data_dir: str) -> Settings:
    return msgspec.convert(
        {
            "server": {"master_key": MASTER, "log_level": "warning"},
            "accounts": {"session_secret": "b" * 48},
            "redis": {"data_dir": data_dir},
            "models": [{"name": m, "upstreams": [upstream]} for m in MODELS],
        },
        Settings,
        strict=True,
    )


async def seed_ledger(settings: Settings, events: int, keys: int) -> tuple[int, str]:
    """`events` usage events over 30 days; returns the ledger rows and one key id."""
    async with (
        open_store(settings.redis, role="command") as store,
        open_accounts(store.redis, store.prefix, settings.accounts) as accounts,
    ):
        users = [await accounts.users.create(f"user{u:02d}", PASSWORD) for u in range(10)]
        await accounts.users.create("admin", PASSWORD, role="admin")
        made = [
            await accounts.keys.create(users[i % len(users)].id, f"key {i}") for i in range(keys)
        ]
        now = time.time()
        clock = [now]
        rng = random.Random(7)
        recorder = UsageRecorder(store.redis, prefix=store.prefix, clock=lambda: clock[0])
        rows = set()
        for _ in range(events):
            day = rng.randrange(30)
            clock[0] = now - day * 86400
            key = rng.choice(made).record
            model = rng.choice(MODELS)
            k = rng.choice((1, 1, 4, 8))
            rows.add((day, key.id, model))
            recorder.record(
                UsageEvent(
                    key_id=key.id,
                    user_id=key.owner,
                    model=model,
                    route="fast" if k == 1 else "best-of-k",
                    k=k,
                    prompt_tokens=rng.randrange(50, 2000),
                    completion_tokens=rng.randrange(10, 800),
                    generated_tokens=rng.randrange(60, 2800) * k,
                    verified=k > 1 and rng.random() < 0.6,
                )
            )
        assert await recorder.flush()
        return len(rows), made[0].record.id


def seed_traces(ring: object, count: int) -> None:
    rng = random.Random(11)
    for i in range(count):
        search = i % 2 == 1
        ring.record(  # type: ignore[attr-defined]
            Trace(
                request_id=f"req-{i:06d}",
                at=time.time(),
                model=rng.choice(MODELS),
                route="best-of-k" if search else "fast",
                k=4 if search else 1,
                key_id="bench",
                verified=search,
                selection="trusted tests" if search else None,
                tests_source="prompt" if search else None,
                tests_count=3 if search else 0,
                candidates=tuple(
                    TraceCandidate(
                        index=c,
                        verdict="passed" if c == 0 else "failed",
                        passed=3 if c == 0 else 1,
                        winner=c == 0,
                    )
                    for c in range(4 if search else 0)
                ),
                prompt_tokens=300,
                completion_tokens=120,
                generated_tokens=1700 if search else 420,
                latency_ms=rng.uniform(50, 4000),
            )
        )


def measure(client: httpx.Client, path: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        reply = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        if reply.status_code != 200:
            raise RuntimeError(f"{path}: {reply.status_code} {reply.text[:200]}")
    return times


def run(
    events: int, keys: int, traces: int, rounds: int
) -> tuple[list[tuple[str, list[float]]], int]:
    with tempfile.TemporaryDirectory(prefix="atlas-bench-pages-") as data_dir:
        upstream = ScriptedUpstream().start()
        try:
            settings = settings_for(upstream.url, data_dir)
            rows, key_id = asyncio.run(seed_ledger(settings, events, keys))
            app = create_app(settings)
            server = serve_in_thread(app, lifespan="on", **server_options(settings.server))
            try:
                seed_traces(app.state.services.traces, traces)
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    login = client.post(
                        "/admin/login", data={"name": "admin", "password": PASSWORD}
                    )
                    if login.status_code != 303:
                        raise RuntimeError(f"sign-in failed: {login.status_code}")
                    pages = [
                        "/admin/keys",
                        f"/admin/keys/{key_id}",
                        "/admin/usage",
                        f"/admin/usage?key={key_id}",
                        "/admin/traces",
                        f"/admin/traces?limit={traces}",
                        f"/admin/traces/{traces}",
                        "/admin/users",
                        "/admin/engines",
                        "/admin/verification",
                    ]
                    for path in pages:  # warm-up: templates compiled, connections open
                        measure(client, path, 2)
                    results = [(p, measure(client, p, rounds)) for p in pages]
                with httpx.Client(base_url=server.url, timeout=30) as anonymous:
                    measure(anonymous, "/admin/login", 2)
                    results.insert(0, ("/admin/login", measure(anonymous, "/admin/login", rounds)))
                return results, rows
            finally:
                server.stop()
        finally:
            upstream.stop()


def report(results: list[tuple[str, list[float]]], events: int, rows: int, traces: int) -> str:
    day = datetime.now(UTC).date().isoformat()
    lines = [
        f"`make bench-admin-pages`, {day}, {os.cpu_count()} cores: {events:,} usage events "
        f"({rows:,} ledger rows of day, key and model) over 30 days and {traces:,} traces; "
        "request to last byte over loopback, an admin signed in.",
        "",
        "| page | median | p95 | max |",
        "|---|---:|---:|---:|",
    ]
    worst = 0.0
    for path, times in results:
        ordered = sorted(times)
        p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
        worst = max(worst, p95)
        lines.append(
            f"| `{re.sub('[0-9a-f]{12}', '{id}', path)}` | "
            f"{statistics.median(times):.1f} ms | {p95:.1f} ms | {max(times):.1f} ms |"
        )
    verdict = "met" if worst < BUDGET_MS else "MISSED"
    lines += [
        "",
        f"Budget: every page under {BUDGET_MS:.0f} ms at p95 ({verdict}: worst {worst:.1f} ms).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_pages", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--traces", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    results, rows = run(args.events, args.keys, args.traces, args.rounds)
    text = report(results, args.events, rows, args.traces)
    print(text)
    if not args.no_write:
        write_section("admin-pages", text)
    return 0 if "MISSED" not in text else 1


if __name__ == "__main__":
    sys.exit(main())
