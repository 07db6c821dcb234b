"""The embedded gateway's process handling, on real child processes standing in for it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.live_gateway import GatewayStartError, descendants, gateway_env, stop, wait_ready
from tests.conftest import free_port

# A "gateway" that starts a child in its own session (as it starts llama-server) and
# exits on SIGTERM without stopping it.
# The handler is set before the pid is printed: the test stops it as soon as it reads it.
LEAVES_A_CHILD = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         start_new_session=True)
print(child.pid, flush=True)
time.sleep(120)
"""
IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def spawn(script: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().decode().strip()


def test_stop_also_stops_the_children_the_gateway_left_behind() -> None:
    process, child = spawn(LEAVES_A_CHILD)
    assert [pid for pid, _ in descendants(process.pid)] == [int(child)]
    stop(process, grace_s=10)
    assert process.returncode == 0
    deadline = time.monotonic() + 5
    while alive(int(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(int(child))


def test_stop_kills_a_gateway_that_ignores_sigterm() -> None:
    process, line = spawn(IGNORES_SIGTERM)
    assert line == "ready"
    started = time.monotonic()
    stop(process, grace_s=0.5)
    assert process.returncode == -9
    assert time.monotonic() - started < 5


def test_a_gateway_that_dies_at_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('bad config: boom'); sys.exit(3)"],
            stdout=out,
        )
    with pytest.raises(GatewayStartError, match=r"exited with 3: bad config: boom"):
        wait_ready(process, f"http://127.0.0.1:{free_port()}", 30, log)


def test_a_gateway_never_ready_times_out(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(GatewayStartError, match="not ready after 1 s"):
            wait_ready(process, f"http://127.0.0.1:{free_port()}", 1, tmp_path / "log")
    finally:
        process.kill()
        process.wait()


def test_the_gateway_gets_no_atlas_settings_but_the_cache_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATLAS_UPSTREAM_URL", "http://elsewhere:1")
    monkeypatch.setenv("ATLAS_CACHE_DIR", "/tmp/cache")
    env = gateway_env()
    assert "ATLAS_UPSTREAM_URL" not in env
    assert env["ATLAS_CACHE_DIR"] == "/tmp/cache"
    assert env["PATH"]
