"""`atlas serve` with nothing configured: the installed stack answers (what `make run` does)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from config import Settings
from engines.install import installed_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        "engines" not in Settings.__struct_fields__,
        reason="[[engines]] is not wired into config.Settings yet",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url + "/ready", timeout=5) as reply:
            body: dict[str, Any] = json.loads(reply.read())
            return body
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, Any]]]:
    if installed_stack() is None:
        pytest.skip("no installed stack: run `atlas engines install` (see README)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_UPSTREAM")}
    env["ATLAS_SANDBOX_BACKEND"] = "disabled"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while (ready := _ready(url)) is None or not ready["ready"]:
            assert proc.poll() is None, "atlas serve exited"
            assert time.monotonic() < deadline, f"not ready: {ready}"
            time.sleep(0.5)
        pids = [e["pid"] for e in ready["engines"].values()]
        yield url, ready
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    # The gateway's shutdown stopped the llama-server processes it started.
    assert pids and not [p for p in pids if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_default_model_answers_through_the_sdk(served: tuple[str, dict[str, Any]]) -> None:
    url, ready = served
    model = next(iter(ready["models"]))
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
    completion = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello in Python."}],
        max_tokens=16,
    )
    assert completion.choices[0].message.content
    assert {e["role"] for e in ready["engines"].values()} == {"generation", "embedding"}
