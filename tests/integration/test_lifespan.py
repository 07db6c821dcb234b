"""The composition root builds the services whole inside the lifespan and closes what it
opened, in reverse order, when a later step fails and on a normal shutdown."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from gateway.telemetry.metrics import Metrics
from gateway.wiring.services import open_services
from tests.integration.conftest import make_settings

RECORD = {
    "id": "p1",
    "messages": [{"role": "user", "content": "Write add(a, b)."}],
    "samples": ["def add(a, b): return a + b"],
}


def listening_ports() -> set[int]:
    """Loopback TCP ports in LISTEN state, from the kernel's table."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":
            ports.add(int(local.split(":")[1], 16))
    return ports


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dataset(tmp_path: Path) -> str:
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps(RECORD) + "\n")
    return str(path)


async def test_a_failing_step_closes_the_steps_already_opened(tmp_path: Path) -> None:
    # The replay server starts (it listens), then the store (the Lens' Redis, named by the
    # legacy lens.redis_url) cannot be reached.
    settings = make_settings(
        [{"name": "replay", "engine": "replay", "dataset": dataset(tmp_path)}],
        sandbox={"backend": "disabled"},
        lens={
            "enabled": True,
            "redis_url": f"redis://127.0.0.1:{closed_port()}/0",
            "checkpoint_dir": str(tmp_path / "lens"),
        },
    )
    before = listening_ports()
    metrics = Metrics()
    with pytest.raises(Exception, match=r"(?i)connect"):
        async with open_services(settings, metrics):
            pytest.fail("the services must not be handed out")
    assert listening_ports() <= before  # the replay server was stopped again
    # The engine collector was unregistered, so a retry can register it again.
    async with open_services(settings.__class__(models=settings.models), metrics):
        pass


async def test_shutdown_closes_everything_it_opened(tmp_path: Path) -> None:
    settings = make_settings(
        [{"name": "replay", "engine": "replay", "dataset": dataset(tmp_path)}],
        sandbox={"backend": "disabled"},
    )
    before = listening_ports()
    async with open_services(settings, Metrics()) as services:
        url = services.models["replay"].generation.upstreams[0].url
        port = int(url.rsplit(":", 1)[1])
        assert port in listening_ports() - before
        # Built whole: the pools point at the started replay server, nothing is patched later.
        assert services.replays["replay"].url == url
    assert port not in listening_ports()
