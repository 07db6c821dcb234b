"""open_store: an external URL, or the data dir's embedded redis-server shared by a
gateway and CLI commands under the lock rule of gateway/wiring/redis_store.py. Real
redis-server processes, real flocks, a second real process where it matters."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from config.redis import RedisSettings
from gateway.wiring.redis_store import (
    LOCK_NAME,
    LockHolder,
    StoreBusyError,
    StoreUnavailableError,
    open_store,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(40)]

ROOT = Path(__file__).resolve().parents[4]
# A CLI command in a process of its own: opens the store, writes, holds it, exits.
COMMAND = textwrap.dedent(
    """
    import asyncio, sys, time
    from config.redis import RedisSettings
    from gateway.wiring.redis_store import open_store

    async def main() -> None:
        settings = RedisSettings(data_dir=sys.argv[1])
        async with open_store(settings, role="command") as store:
            await store.redis.set(b"from-command", b"1")
            print(store.mode, flush=True)
            await asyncio.sleep(float(sys.argv[2]))
            await store.redis.set(b"command-done", b"1")  # its server is still there

    asyncio.run(main())
    """
)


def embedded(data_dir: Path, **values: Any) -> RedisSettings:
    return RedisSettings(data_dir=str(data_dir), **values)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def lock_is_free(data_dir: Path) -> bool:
    with open(data_dir / "redis" / LOCK_NAME, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_external_url_is_used_as_it_is(redis_url: str) -> None:
    settings = RedisSettings(url=redis_url, prefix="test-external:")
    async with open_store(settings, role="gateway") as store:
        assert (store.mode, store.prefix, store.server) == ("external", "test-external:", None)
        await store.redis.set(b"test-external:k", b"\xffbytes")
        assert await store.redis.get(b"test-external:k") == b"\xffbytes"  # bytes, undecoded
        status = await store.status()
        assert status == {"mode": "external", "address": redis_url, "up": True}


async def test_an_unreachable_url_fails_at_start_without_its_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    with pytest.raises(
        StoreUnavailableError, match=r"could not connect to the Redis store"
    ) as info:
        async with open_store(RedisSettings(url=url), role="gateway"):
            pytest.fail("the store must not be handed out")
    assert "redis://:***@127.0.0.1" in str(info.value) and "hunter2" not in str(info.value)


async def test_the_embedded_server_starts_from_nothing_and_stops_with_the_block(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    async with open_store(embedded(data_dir), role="gateway") as store:
        assert store.mode == "embedded" and store.server is not None
        pid = store.server.pid
        assert pid is not None
        await store.redis.set(b"atlas:k", b"v")
        holder = msgspec.json.decode((data_dir / "redis" / LOCK_NAME).read_bytes(), type=LockHolder)
        assert holder == LockHolder(os.getpid(), "gateway")
        assert not lock_is_free(data_dir)
        status = await store.status()
        assert status["up"] is True and status["state"] == "ready" and status["pid"] == pid
    assert not alive(pid) and not (data_dir / "redis" / "redis.sock").exists()
    assert lock_is_free(data_dir)
    async with open_store(embedded(data_dir), role="command") as store:
        assert await store.redis.get(b"atlas:k") == b"v"  # written to the AOF at SHUTDOWN


async def test_a_command_joins_a_running_gateways_server(tmp_path: Path) -> None:
    async with open_store(embedded(tmp_path), role="gateway") as gateway:
        assert gateway.server is not None
        server_pid = gateway.server.pid
        await gateway.redis.set(b"atlas:user", b"ada")
        async with open_store(embedded(tmp_path), role="command") as command:
            assert (command.mode, command.server) == ("guest", None)  # no second server
            assert await command.redis.get(b"atlas:user") == b"ada"
            await command.redis.set(b"atlas:key", b"k1")
        # The command leaving does not stop the gateway's server.
        assert gateway.server.pid == server_pid and await gateway.redis.get(b"atlas:key") == b"k1"


async def test_a_second_gateway_on_the_same_data_dir_is_a_guest(tmp_path: Path) -> None:
    async with (
        open_store(embedded(tmp_path), role="gateway") as first,
        open_store(embedded(tmp_path), role="gateway") as second,
    ):
        assert (first.mode, second.mode) == ("embedded", "guest")
        await first.redis.set(b"atlas:x", b"1")
        assert await second.redis.get(b"atlas:x") == b"1"


async def test_a_gateway_waits_for_a_commands_server_to_stop_then_owns_its_own(
    tmp_path: Path,
) -> None:
    hold_s = 1.5
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        COMMAND,
        str(tmp_path),
        str(hold_s),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert command.stdout is not None
    assert await asyncio.wait_for(command.stdout.readline(), 20) == b"embedded\n"
    started = time.monotonic()
    async with open_store(embedded(tmp_path), role="gateway") as store:
        waited = time.monotonic() - started
        # Not a guest of the server about to stop: it waited for the lock, then started one.
        assert store.mode == "embedded" and waited >= hold_s * 0.5
        assert await command.wait() == 0  # the command's own writes all succeeded
        assert await store.redis.get(b"from-command") == b"1"
        assert await store.redis.get(b"command-done") == b"1"


async def test_a_gateway_gives_up_on_a_lock_held_too_long(tmp_path: Path) -> None:
    async with open_store(embedded(tmp_path), role="command") as command:
        assert command.mode == "embedded"
        started = time.monotonic()
        with pytest.raises(StoreBusyError, match=f"held by command pid {os.getpid()}"):
            async with open_store(embedded(tmp_path, lock_timeout_s=0.4), role="gateway"):
                pytest.fail("the store must not be handed out")
        assert time.monotonic() - started >= 0.4
        assert await command.redis.ping()  # the holder was left alone


async def test_commands_take_turns_with_a_commands_server(tmp_path: Path) -> None:
    order: list[str] = []
    opened = asyncio.Event()

    async def first() -> None:
        async with open_store(embedded(tmp_path), role="command") as store:
            order.append(f"first {store.mode}")
            opened.set()
            await asyncio.sleep(0.6)
            await store.redis.set(b"atlas:n", b"1")
            order.append("first done")

    task = asyncio.create_task(first())
    await opened.wait()
    async with open_store(embedded(tmp_path), role="command") as store:
        order.append(f"second {store.mode}")
        assert await store.redis.get(b"atlas:n") == b"1"
    await task
    assert order == ["first embedded", "first done", "second embedded"]


async def test_a_server_left_behind_is_shut_down_and_replaced(tmp_path: Path) -> None:
    # As if its owner was killed with SIGKILL: the server runs on, nobody holds the lock.
    directory = tmp_path / "redis"
    directory.mkdir(mode=0o700)
    sock = directory / "redis.sock"
    binary = shutil.which("redis-server")
    assert binary is not None
    left = await asyncio.create_subprocess_exec(
        binary,
        *("--port", "0", "--unixsocket", str(sock), "--dir", str(directory)),
        *("--appendonly", "yes", "--save", ""),
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        conn = aioredis.Redis(unix_socket_path=str(sock))
        deadline = time.monotonic() + 10
        while True:
            try:
                await conn.set(b"atlas:left", b"kept")
                break
            except RedisConnectionError:
                assert time.monotonic() < deadline, "the left-behind server did not start"
                await asyncio.sleep(0.05)
        await conn.aclose()
        async with open_store(embedded(tmp_path), role="command") as store:
            assert store.mode == "embedded" and store.server is not None
            assert await asyncio.wait_for(left.wait(), 5) == 0  # it exited on SHUTDOWN
            assert store.server.pid != left.pid
            assert await store.redis.get(b"atlas:left") == b"kept"
    finally:
        if left.returncode is None:
            left.kill()
        await left.wait()


async def test_kill_9_of_the_embedded_server_is_carried_over_by_the_client(
    tmp_path: Path,
) -> None:
    async with open_store(embedded(tmp_path, restart_backoff_s=0.2), role="gateway") as store:
        assert store.server is not None
        await store.redis.set(b"atlas:k", b"v")
        pid = store.server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        # The next call finds the old connection dead, retries, and reaches the restart.
        assert await store.redis.get(b"atlas:k") == b"v"
        assert store.server.restarts == 1 and store.server.pid != pid


async def test_no_binary_anywhere_is_a_clear_start_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = embedded(tmp_path, binary=str(tmp_path / "no-such-redis-server"))
    with pytest.raises(StoreUnavailableError, match="embedded Redis store did not start"):
        async with open_store(settings, role="gateway"):
            pytest.fail("the store must not be handed out")
    assert lock_is_free(tmp_path)
