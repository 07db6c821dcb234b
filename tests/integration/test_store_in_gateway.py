"""A real gateway with its embedded Redis store: reported by /ready, shared with a CLI
command while it runs, and gone with the gateway."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from config.redis import RedisSettings
from gateway.wiring.redis_store import LOCK_NAME, open_store
from tests.fakes.upstream import ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_gateway_runs_its_store_and_shares_it_with_a_command(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}], redis={"data_dir": str(tmp_path)}
        )
    )
    store = gw.services.store
    assert store.mode == "embedded" and store.server is not None
    pid = store.server.pid
    assert pid is not None
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 200)
    detail = httpx.get(gw.url + "/ready").json()["store"]  # loopback, no key: details open
    assert detail["mode"] == "embedded" and detail["up"] is True and detail["pid"] == pid
    assert detail["address"] == str(tmp_path / "redis" / "redis.sock")

    async def command() -> bytes | None:
        settings = RedisSettings(data_dir=str(tmp_path))
        async with open_store(settings, role="command") as cli:
            assert cli.mode == "guest"  # the gateway's server, not a second one
            await cli.redis.set(b"atlas:from-cli", b"1")
            value: bytes | None = await cli.redis.get(b"atlas:from-cli")
            return value

    assert asyncio.run(command()) == b"1"
    assert store.server.pid == pid  # the command left the gateway's server alone
    gw.stop()
    assert not alive(pid)
    with open(tmp_path / "redis" / LOCK_NAME, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the gateway
