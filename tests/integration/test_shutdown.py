"""SIGTERM drains: `atlas serve` as a real process in front of a slow scripted upstream.

The answers in flight when the signal comes finish whole within
`server.shutdown_grace_s`; new connections are refused at once; answers still running
when the grace is over end properly (a 503, or an error event and [DONE]); and the
process exits 0 within the grace period plus a small margin.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.fakes.upstream import Script, ScriptedUpstream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

CONTENT = "a complete answer from the slow upstream"
EXIT_MARGIN_S = 3.0  # the drain's own END_MARGIN_S, the lifespan's close, interpreter exit


class Gateway:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return out.decode(errors="replace")


def _start(tmp_path: Path, upstream: ScriptedUpstream, grace_s: float) -> Gateway:
    port = free_port()
    config = tmp_path / "atlas.toml"
    config.write_text(
        f'[server]\nport = {port}\nshutdown_grace_s = {grace_s}\nlog_level = "info"\n\n'
        f'[[models]]\nname = "slow"\nkind = "openai"\nupstreams = ["{upstream.url}"]\n'
        'health_path = ""\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env["ATLAS_CACHE_DIR"] = str(tmp_path / "no-installed-stack")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    gateway = Gateway(proc, port)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(gateway.url + "/health").status_code == 200:
                return gateway
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("atlas serve did not start:\n" + gateway.output())
        time.sleep(0.1)


@pytest.fixture
def gateways() -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    yield started
    for gateway in started:
        if gateway.proc.poll() is None:
            gateway.proc.kill()
            gateway.proc.wait(timeout=10)


def _body(stream: bool) -> dict[str, Any]:
    return {"model": "slow", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


def _send(url: str, stream: bool, into: list[tuple[int, bytes]]) -> None:
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", url + "/v1/chat/completions", json=_body(stream)) as reply,
    ):
        into.append((reply.status_code, reply.read()))


def _in_flight(
    gateway: Gateway, upstream: ScriptedUpstream, results: list[list[tuple[int, bytes]]]
) -> list[threading.Thread]:
    """One request per list in `results`, JSON and stream in turn, each answer put in its
    list; return once the upstream has them all."""
    n = len(results)
    threads = [
        threading.Thread(target=_send, args=(gateway.url, i % 2 == 1, into), daemon=True)
        for i, into in enumerate(results)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(upstream.received) < n:
        assert time.monotonic() < deadline, "the requests did not reach the upstream"
        time.sleep(0.02)
    return threads


def _terminate(gateway: Gateway) -> float:
    gateway.proc.send_signal(signal.SIGTERM)
    return time.monotonic()


def _refused(url: str, within_s: float = 1.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=0.5)
        except httpx.ConnectError:
            return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _stream_content(raw: bytes) -> tuple[str, list[dict[str, Any]], bool]:
    lines = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    done = bool(lines) and lines[-1] == "[DONE]"
    events = [json.loads(line) for line in lines if line != "[DONE]"]
    deltas = [e["choices"][0].get("delta") or {} for e in events if e.get("choices")]
    text = "".join(delta.get("content") or "" for delta in deltas)
    return text, [e for e in events if "error" in e], done


def test_sigterm_lets_answers_in_flight_finish_and_refuses_new_ones(
    tmp_path: Path, gateways: list[Gateway]
) -> None:
    upstream = ScriptedUpstream(Script(content=CONTENT, delay_s=2.0)).start()
    try:
        gateway = _start(tmp_path, upstream, grace_s=10.0)
        gateways.append(gateway)
        results: list[list[tuple[int, bytes]]] = [[] for _ in range(4)]
        threads = _in_flight(gateway, upstream, results)
        signalled = _terminate(gateway)
        assert _refused(gateway.url), "a new connection was accepted after SIGTERM"
        for thread in threads:
            thread.join(timeout=30)
        code = gateway.proc.wait(timeout=15)
        took = time.monotonic() - signalled
        output = gateway.output()
    finally:
        upstream.stop()
    assert code == 0, output
    assert took < 10.0, f"took {took:.1f} s to exit"
    for i, answers in enumerate(results):
        assert len(answers) == 1, output
        status, raw = answers[0]
        assert status == 200, raw
        if i % 2 == 0:
            assert json.loads(raw)["choices"][0]["message"]["content"] == CONTENT
        else:
            text, errors, done = _stream_content(raw)
            assert (text, errors, done) == (CONTENT, [], True)
    assert upstream.completed == 4


def test_sigterm_cuts_answers_slower_than_the_grace_with_a_proper_end(
    tmp_path: Path, gateways: list[Gateway]
) -> None:
    # JSON answers wait 30 s for their first byte; streams start at once and then trickle.
    upstream = ScriptedUpstream(
        Script(
            content=CONTENT,
            delay_for=lambda body: 0.0 if body.get("stream") else 30.0,
            chunk_delay_s=3.0,
        )
    ).start()
    grace_s = 2.0
    try:
        gateway = _start(tmp_path, upstream, grace_s=grace_s)
        gateways.append(gateway)
        results: list[list[tuple[int, bytes]]] = [[] for _ in range(2)]
        threads = _in_flight(gateway, upstream, results)
        signalled = _terminate(gateway)
        code = gateway.proc.wait(timeout=grace_s + 20)
        took = time.monotonic() - signalled
        for thread in threads:
            thread.join(timeout=10)
        output = gateway.output()
    finally:
        upstream.stop()
    assert code == 0, output
    assert grace_s <= took < grace_s + EXIT_MARGIN_S, f"took {took:.1f} s to exit"
    (json_status, json_raw), (stream_status, stream_raw) = results[0][0], results[1][0]
    assert json_status == 503, json_raw
    assert json.loads(json_raw)["error"]["code"] == "shutting_down"
    assert stream_status == 200
    _, errors, done = _stream_content(stream_raw)
    assert done, stream_raw
    assert [e["error"]["code"] for e in errors] == ["shutting_down"], stream_raw
    assert upstream.disconnects == 2  # both upstream calls were cancelled, not left running
