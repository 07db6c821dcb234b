"""Hostile text at the edge: adversarial prompts sent with `x-atlas-k: 2` beside
pass-through traffic. Text analysis never holds the event loop, so the pass-through
p99 stays under 50 ms (issue 15).

The scripted upstream runs in its own process: decoding the 1 MB bodies best-of-k
forwards to it must not compete with the gateway for this process's GIL."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.conftest import RunningGateway, make_settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASS_THROUGH_P99_S = 0.050
PROBES = 150

ADVERSARIAL = [
    "x" * 2000 + "\nf()== x" + " " * 1600 + "!",
    "x" * 2000 + "\nf()== x" + " " * 1600,
    "def f():\n" + "\n" * 60_000,
    "Input" + " " * 100_000 + "!",
    "f()" + "=" * 1_000_000,
    "`" * 1_000_000,
    "```\n" * 250_000,
    ("```python\n" + "~~~\n") * 60_000,
    " " * 1_000_000 + "x",
    "assert (\n" * 100_000,
    "f(1) == 1\n" * 100_000,
]


@pytest.fixture
def upstream_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.upstream", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _answers(url + "/health"), timeout=15), "upstream did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _chat(prompt: str) -> bytes:
    body = {"model": "coder", "messages": [{"role": "user", "content": prompt}]}
    return json.dumps(body).encode()


def _pass_through_latencies(url: str, stop: threading.Event) -> list[float]:
    body = _chat("hi")
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(10):  # warm the connection and the code paths
            client.post("/v1/chat/completions", content=body)
        for _ in range(PROBES):
            started = time.perf_counter()
            reply = client.post("/v1/chat/completions", content=body)
            latencies.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text
            time.sleep(0.005)
    stop.set()
    return latencies


def _hammer(url: str, stop: threading.Event, statuses: list[int]) -> None:
    bodies = [_chat(prompt) for prompt in ADVERSARIAL]
    headers = {"content-type": "application/json", "x-atlas-k": "2"}
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            for body in bodies:
                if stop.is_set():
                    return
                reply = client.post("/v1/chat/completions", content=body, headers=headers)
                statuses.append(reply.status_code)


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_adversarial_prompts_do_not_stall_pass_through(
    gateway_factory: Callable[..., RunningGateway], upstream_process: str
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream_process]}],
            sandbox={"backend": "disabled"},
        )
    )
    quiet = _pass_through_latencies(gw.url, threading.Event())
    stop = threading.Event()
    statuses: list[int] = []
    adversaries = [
        threading.Thread(target=_hammer, args=(gw.url, stop, statuses), daemon=True)
        for _ in range(2)
    ]
    for thread in adversaries:
        thread.start()
    try:
        loaded = _pass_through_latencies(gw.url, stop)
    finally:
        stop.set()
        for thread in adversaries:
            thread.join(timeout=60)
    print(
        f"pass-through p99: {_p99(quiet) * 1000:.1f} ms quiet, {_p99(loaded) * 1000:.1f} ms "
        f"beside {len(statuses)} adversarial best-of-k requests"
    )
    assert statuses, "no adversarial request completed"
    assert all(s < 500 for s in statuses), statuses
    assert _p99(loaded) < PASS_THROUGH_P99_S
