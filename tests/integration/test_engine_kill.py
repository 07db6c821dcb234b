"""kill -9 of a managed llama-server under load: the supervisor restarts it, the requests
fail over to the other engine, and /ready says what happened.

The contract: no client sees an error. A request in flight on the killed engine had
nothing of its answer yet (llama-server sends its answer whole), so the dispatcher's one
failover before any byte moves it to the other engine; the killed engine is out of the
pool until its replacement answers /health, then back in, with a new pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from config import Settings
from gateway.app import create_app
from gateway.testing import serve_in_thread
from tests.fakes.fake_llama_server import write_wrapper

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

WORKERS = 4
ANSWER_S = 0.15  # each completion takes this long, so some are in flight at the kill
LOAD_S = 1.0  # a restarted engine is down this long: requests meanwhile go elsewhere


def _settings(binary: str) -> Settings:
    engine = {
        "binary": binary,
        "model": "m.gguf",
        "start_timeout_s": 15.0,
        "stop_grace_s": 2.0,
        "restart_backoff_s": 0.1,
    }
    raw = {
        "sandbox": {"backend": "disabled"},
        "engines": [{"name": "gen-a", **engine}, {"name": "gen-b", **engine}],
        "models": [{"name": "coder", "engines": ["gen-a", "gen-b"]}],
    }
    return msgspec.convert(raw, Settings, strict=True)


async def _load(client: httpx.AsyncClient, stop: asyncio.Event, statuses: list[int]) -> None:
    body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}
    while not stop.is_set():
        reply = await client.post("/v1/chat/completions", json=body)
        statuses.append(reply.status_code)
        if reply.status_code == 200:
            assert reply.json()["choices"][0]["message"]["content"] == "ok"


async def _engines(client: httpx.AsyncClient) -> dict[str, Any]:
    reply = await client.get("/ready")
    ready: dict[str, Any] = reply.json()
    assert reply.status_code == (200 if ready["ready"] else 503)
    return ready


async def _until(client: httpx.AsyncClient, check: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        ready = await _engines(client)
        if check(ready):
            return ready
        assert time.monotonic() < deadline, f"not reached in {timeout_s} s: {ready}"
        await asyncio.sleep(0.05)


async def test_sigkill_of_one_engine_is_restarted_while_requests_fail_over(
    tmp_path: Path,
) -> None:
    app = create_app(_settings(write_wrapper(tmp_path, LOAD_S=LOAD_S, ANSWER_S=ANSWER_S)))
    server = serve_in_thread(app, start_timeout_s=30)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            back, killed_pid, statuses, before, during = await _kill_under_load(client)
    finally:
        server.stop()
    engine = back["engines"]["gen-a"]
    assert engine["pid"] not in (None, killed_pid)
    assert engine["restarts"] == 1
    assert back["models"]["coder"]["healthy_upstreams"] == 2
    assert before > 0 and len(statuses) > during  # load ran before, during and after
    assert statuses.count(200) == len(statuses), sorted(set(statuses))


async def _kill_under_load(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], int, list[int], int, int]:
    """SIGKILL gen-a under load; /ready once it is back, its old pid, every status, and
    how many answers had come before the kill and before it was back."""
    ready = await _engines(client)
    assert ready["ready"] is True
    assert {n: e["state"] for n, e in ready["engines"].items()} == {
        "gen-a": "ready",
        "gen-b": "ready",
    }
    killed_pid = ready["engines"]["gen-a"]["pid"]
    stop, statuses = asyncio.Event(), list[int]()
    load = [asyncio.create_task(_load(client, stop, statuses)) for _ in range(WORKERS)]
    try:
        await asyncio.sleep(1.0)  # both engines busy
        before = len(statuses)
        os.kill(killed_pid, signal.SIGKILL)
        # Detected: out of the pool, being restarted; the model is still ready.
        down = await _until(client, lambda r: r["engines"]["gen-a"]["state"] != "ready", 5)
        assert down["ready"] is True
        assert down["models"]["coder"]["healthy_upstreams"] == 1
        during = len(statuses)
        back = await _until(client, lambda r: r["engines"]["gen-a"]["state"] == "ready", 20)
        await asyncio.sleep(0.5)  # traffic on both again
    finally:
        stop.set()
        await asyncio.gather(*load)
    return back, killed_pid, statuses, before, during
