"""The embedded default gateway, run by `atlas bench live` when no --base-url is given.

`python -m gateway.cli serve` (what `atlas serve` runs) on a free loopback port, with no
config file and no ATLAS_* settings but ATLAS_CACHE_DIR: the gateway then serves the
stack `atlas engines install` left (managed llama-server processes). Start: spawn, poll
/ready until a deadline, fail early (with the log's tail) if the process dies. Stop:
SIGTERM, a grace period, SIGKILL to its process group; the llama-server processes the
gateway started (in their own sessions) are stopped by pid if they outlive it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 600.0
STOP_GRACE_S = 30.0
ORPHAN_GRACE_S = 10.0
KEPT_ENV = ("ATLAS_CACHE_DIR",)


class GatewayStartError(RuntimeError):
    """The embedded gateway did not become ready."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(data_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_") or k in KEPT_ENV}
    if data_dir is not None:  # a store of its own (the router's posteriors, the cache)
        env["ATLAS_DATA_DIR"] = str(data_dir)
    return env


@contextmanager
def embedded_gateway(
    log_path: Path,
    ready_timeout_s: float = READY_TIMEOUT_S,
    data_dir: Path | None = None,
    config: Path | None = None,
) -> Iterator[str]:
    """Yield the root URL of a freshly started default gateway; stop it on exit.
    `data_dir`: its Redis store there (ATLAS_DATA_DIR), not the user's default one;
    `config`: a config file instead of the default stack."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1"]
    if config is not None:
        argv += ["--config", str(config)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            cwd=ROOT,
            env=gateway_env(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, url, ready_timeout_s, log_path)
        yield url
    finally:
        stop(process)


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GatewayStartError(
                f"the gateway exited with {process.returncode}: {_tail(log)} (log: {log})"
            )
        try:
            if httpx.get(url + "/ready", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise GatewayStartError(f"the gateway was not ready after {timeout_s:.0f} s (log: {log})")


def stop(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait, SIGKILL the group; then any child it left running, by pid."""
    children = descendants(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
    for pid, started in children:
        _stop_orphan(pid, started)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant, read from /proc."""
    found: list[tuple[int, str]] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for child in _children(parent):
            started = _start_time(child)
            if started is not None:
                found.append((child, started))
                pending.append(child)
    return found


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, so a reused pid is never mistaken for ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def _stop_orphan(pid: int, started: str) -> None:
    for sig, grace in ((signal.SIGTERM, ORPHAN_GRACE_S), (signal.SIGKILL, 5.0)):
        if _start_time(pid) != started:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _start_time(pid) == started:
            time.sleep(0.1)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(log: Path, chars: int = 600) -> str:
    try:
        return log.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return "(no log)"
