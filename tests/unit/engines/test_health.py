"""HealthChecker over the transport seam, and the names its failures show in /ready."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping

import pytest

from engines.client import ClientLimits, UpstreamClient
from engines.errors import UpstreamUnavailableError
from engines.health import HealthChecker
from engines.pool import Upstream, UpstreamPool
from engines.transport import RawReply, RawStream

pytestmark = pytest.mark.timeout(10)


class Health:
    """A transport whose GET answers a scripted status, or fails as a refused connect."""

    def __init__(self, status: int | None) -> None:
        self.status = status
        self.urls: list[str] = []

    async def get(self, url: str, timeout_s: float) -> int:
        self.urls.append(url)
        if self.status is None:
            raise UpstreamUnavailableError("connect failed", upstream=url) from (
                ConnectionRefusedError()
            )
        return self.status

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawReply:
        raise NotImplementedError

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawStream:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    ("status", "healthy", "error"),
    [
        (200, True, None),
        (503, False, "health check answered 503"),
        (None, False, "health check failed: ConnectionRefusedError"),
    ],
)
async def test_check_marks_the_upstream(status: int | None, healthy: bool, error: str) -> None:
    upstream = Upstream("http://a")
    pool = UpstreamPool("m", [upstream])
    transport = Health(status)
    await HealthChecker(transport, [(pool, "/health")]).check_all()
    assert transport.urls == ["http://a/health"]
    assert (upstream.healthy, upstream.last_error) == (healthy, error)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_aiohttp_failures_keep_their_names() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    refused, stalled = (
        Upstream(f"http://127.0.0.1:{closed_port()}"),
        Upstream(f"http://127.0.0.1:{port}"),
    )
    pool = UpstreamPool("m", [refused, stalled])
    client = UpstreamClient(ClientLimits())
    try:
        await HealthChecker(client, [(pool, "/health")], timeout_s=0.2).check_all()
    finally:
        await client.aclose()
        server.close()
    assert refused.last_error == "health check failed: ClientConnectorError"
    assert stalled.last_error == "health check failed: TimeoutError"


async def test_without_a_health_path_a_failure_mark_lasts_one_round() -> None:
    upstream = Upstream("http://127.0.0.1:9")
    pool = UpstreamPool("m", [upstream])
    pool.mark(upstream, False, "connect timeout")  # what the dispatcher does on a failure
    transport = Health(200)
    checker = HealthChecker(transport, [(pool, "")])
    await checker.check_all()
    assert upstream.healthy is True and pool.usable() == [upstream]
    assert transport.urls == []  # readmitted without a request: there is no path to ask
