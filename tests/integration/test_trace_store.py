"""The trace store on a real Redis: ids consecutive across replicas, the newest kept,
filters that page through the stream, a shared capture flag, and a Redis that is away
costing the request path nothing but the oldest buffered traces (counted)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.telemetry.traces import Trace
from gateway.wiring import trace_store
from gateway.wiring.trace_store import TraceStore, capture_key
from tests.own_redis import OwnRedis

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]


def _trace(n: int, user: str | None = None) -> Trace:
    return Trace(request_id=f"r{n}", at=float(n), model="coder", route="fast", user_id=user)


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    made = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


async def test_the_store_keeps_the_newest_and_finds_them_by_id(
    clients: list[aioredis.Redis], prefix: str
) -> None:
    store = TraceStore(clients[0], prefix, capacity=3)
    for n in range(5):
        store.record(_trace(n))
    assert store.pending == 3  # the buffer is bounded too: r0 and r1 went
    assert await store.flush() and store.pending == 0
    for n in range(5, 7):
        store.record(_trace(n))
    assert await store.flush()
    assert await store.held() == 3
    newest = await store.recent(10)
    assert [t.request_id for t in newest] == ["r6", "r5", "r4"]
    assert [t.id for t in newest] == [5, 4, 3]
    found = await store.get(5)
    assert found is not None and found.request_id == "r6"
    assert await store.get(1) is None and await store.get(6) is None


async def test_two_replicas_number_one_stream(clients: list[aioredis.Redis], prefix: str) -> None:
    a, b = (TraceStore(client, prefix) for client in clients)
    for n in range(6):
        (a if n % 2 else b).record(_trace(n, user="a" if n % 2 else "b"))
        assert await (a if n % 2 else b).flush()
    every = await a.recent(10)
    assert [t.request_id for t in every] == [f"r{n}" for n in range(5, -1, -1)]
    assert [t.id for t in every] == list(range(6, 0, -1))
    assert [t.request_id for t in await b.recent(2, lambda t: t.user_id == "a")] == ["r5", "r3"]


async def test_a_filter_pages_through_the_stream(
    clients: list[aioredis.Redis], prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace_store, "PAGE", 3)
    store = TraceStore(clients[0], prefix)
    for n in range(20):
        store.record(_trace(n, user="rare" if n in (1, 2, 17) else None))
    assert await store.flush()
    rare = await store.recent(10, lambda t: t.user_id == "rare")
    assert [t.request_id for t in rare] == ["r17", "r2", "r1"]
    assert len(await store.recent(5)) == 5


async def test_capture_is_one_flag_for_every_replica_and_expires(
    clients: list[aioredis.Redis], prefix: str
) -> None:
    a, b = (TraceStore(client, prefix) for client in clients)
    assert not await b.capturing()
    await a.set_capture(True)
    assert a.capture_text and not b.capture_text
    assert await b.flush() and b.capture_text  # read at the next flush
    assert 0 < await clients[0].ttl(capture_key(prefix)) <= trace_store.CAPTURE_TTL_S
    await b.set_capture(False)
    assert await a.flush() and not a.capture_text


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_away_never_blocks_record_and_drops_the_oldest(own_redis: OwnRedis) -> None:
    drops: list[int] = []
    client = aioredis.Redis.from_url(own_redis.url, socket_timeout=1, socket_connect_timeout=1)
    store = TraceStore(client, "t:", capacity=4, on_drop=drops.append)
    try:
        own_redis.stop()
        started = time.perf_counter()
        for n in range(3):
            store.record(_trace(n))
        assert time.perf_counter() - started < 0.01
        assert not await store.flush()
        assert store.pending == 3  # kept, in order, for the next flush
        for n in range(3, 6):
            store.record(_trace(n))
        assert sum(drops) == 2 and store.pending == 4
        own_redis.start()
        assert await store.flush()
        assert [t.request_id for t in await store.recent(10)] == ["r5", "r4", "r3", "r2"]
    finally:
        await client.aclose()
