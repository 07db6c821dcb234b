"""A real gateway (uvicorn on a loopback port) in front of scripted upstreams."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from config import Settings
from gateway.app import create_app
from gateway.serving import server_options
from gateway.telemetry.traces import Trace
from gateway.testing import BackgroundServer, serve_in_thread
from gateway.wiring.services import Services
from gateway.wiring.trace_store import TraceStore
from tests.fakes.upstream import Script, ScriptedUpstream


@dataclass
class RunningGateway:
    settings: Settings
    services: Services
    background: BackgroundServer

    @property
    def url(self) -> str:
        return self.background.url

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def stop(self) -> None:
        self.background.stop()


class SessionRedis:
    """The session's redis-server (tests/conftest.py `redis_url`), for make_settings."""

    url: str | None = None


@pytest.fixture(scope="session", autouse=True)
def session_redis(redis_url: str) -> Iterator[None]:
    SessionRedis.url = redis_url
    yield
    SessionRedis.url = None


def make_settings(models: list[dict[str, Any]], **sections: dict[str, Any]) -> Settings:
    """Settings of a test gateway. Its store is the session's Redis under a prefix of its
    own (not hundreds of embedded servers), unless the test configures one: a `redis`
    section, or the legacy lens.redis_url. Tests of the embedded server say so."""
    if "redis" not in sections and not sections.get("lens", {}).get("redis_url"):
        assert SessionRedis.url is not None, "make_settings needs the session_redis fixture"
        sections["redis"] = {"url": SessionRedis.url, "prefix": f"test-{uuid.uuid4().hex}:"}
    return msgspec.convert({"models": models, **sections}, Settings, strict=True)


@pytest.fixture
def upstream_factory() -> Iterator[Callable[..., ScriptedUpstream]]:
    started: list[ScriptedUpstream] = []

    def start(script: Script | None = None) -> ScriptedUpstream:
        upstream = ScriptedUpstream(script).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


@pytest.fixture
def upstream(upstream_factory: Callable[..., ScriptedUpstream]) -> ScriptedUpstream:
    return upstream_factory()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    running: list[RunningGateway] = []

    def start(settings: Settings, **app_options: Any) -> RunningGateway:
        """`app_options` go to create_app (a test's DNS `resolver`)."""
        app = create_app(settings, **app_options)
        background = serve_in_thread(app, lifespan="on", **server_options(settings.server))
        # Built by the lifespan, so known once the server is up.
        gateway = RunningGateway(settings, app.state.services, background)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()


@pytest.fixture
def gateway(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    return gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}]
        )
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def stored_traces(
    gateway: RunningGateway,
    count: int,
    keep: Callable[[Trace], bool] | None = None,
    timeout: float = 10.0,
) -> list[Trace]:
    """The newest traces in the gateway's store (Redis), newest first, once `count` that
    `keep` accepts are there: the store writes its buffer off the request path."""

    async def read() -> list[Trace]:
        client = aioredis.Redis.from_url(str(gateway.settings.redis.url))
        try:
            return await TraceStore(client, gateway.services.store.prefix).recent(100, keep)
        finally:
            await client.aclose()

    found: list[Trace] = []

    def enough() -> bool:
        found[:] = asyncio.run(read())
        return len(found) >= count

    assert wait_for(enough, timeout), f"{len(found)} traces stored, {count} expected"
    return found


def set_capture(gateway: RunningGateway, on: bool) -> None:
    """Turn text capture on or off in the store, as the traces page does from any
    replica, and wait until this gateway has read it."""

    async def write() -> None:
        client = aioredis.Redis.from_url(str(gateway.settings.redis.url))
        try:
            await TraceStore(client, gateway.services.store.prefix).set_capture(on)
        finally:
            await client.aclose()

    asyncio.run(write())
    assert wait_for(lambda: gateway.services.traces.capture_text is on)
