"""The pattern cache's decay and eviction on the session's Redis, with a clock we move."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config import PatternCacheSettings
from gateway.strategies.router.patterns import CacheEntry, Features, sketch, unit_vector
from gateway.telemetry.metrics import Metrics
from gateway.wiring.pattern_store import OFF_LOOP_SKETCHES, RedisPatternStore

DAY = 24 * 3600.0
NONE = Features(b"")
ENTRY = CacheEntry(completion={"choices": []}, code="def f(): pass", language="python")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


def store_with(
    client: aioredis.Redis, clock: Clock, metrics: Metrics, prefix: str = "", **cache: float
) -> RedisPatternStore:
    settings = PatternCacheSettings(initial_strength_s=DAY, **cache)  # type: ignore[arg-type]
    prefix = prefix or f"test-{uuid.uuid4().hex}:"
    return RedisPatternStore(client, prefix, {"m": settings}, metrics.router, clock)


def evictions(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "atlas_cache_evictions_total", {"model": "m", "reason": reason}
    )
    return value or 0.0


async def test_an_entry_decays_and_reuse_strengthens_it(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, min_retention=0.1)
    await store.store("m", "t:a", "k1", Features(sketch("add two numbers")), ENTRY)
    clock.now += DAY  # R = e^-1 = 0.37
    hit = await store.lookup("m", "t:a", "k1", NONE)
    assert hit.entry == ENTRY and math.isclose(hit.retention, math.exp(-1))
    await store.reinforce("m", "t:a", "k1")  # S: one day -> two, from now
    clock.now += 3 * DAY  # R = e^-1.5 = 0.22 > 0.1: still there thanks to the reuse
    assert (await store.lookup("m", "t:a", "k1", NONE)).entry == ENTRY
    clock.now += 5 * DAY  # e^-4 < 0.1: evicted on sight
    assert (await store.lookup("m", "t:a", "k1", NONE)).entry is None
    assert evictions(metrics, "decay") == 1
    clock.now = 0  # even a clock turned back does not bring it back
    assert (await store.lookup("m", "t:a", "k1", NONE)).entry is None


async def test_capacity_evicts_the_least_retained(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, capacity=2)
    await store.store("m", "t:a", "old", Features(sketch("a")), ENTRY)
    clock.now += 3600
    await store.store("m", "t:a", "new", Features(sketch("b")), ENTRY)
    clock.now += 3600
    await store.reinforce("m", "t:a", "old")  # now the better retained of the two
    await store.store("m", "t:a", "newest", Features(sketch("c")), ENTRY)
    assert (await store.lookup("m", "t:a", "new", NONE)).entry is None
    assert (await store.lookup("m", "t:a", "old", NONE)).entry == ENTRY
    assert (await store.lookup("m", "t:a", "newest", NONE)).entry == ENTRY
    assert evictions(metrics, "capacity") == 1
    # Another scope is another cache.
    assert (await store.lookup("m", "t:b", "old", NONE)).entry is None


async def test_a_sweep_evicts_what_has_decayed(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, min_retention=0.5)
    await store.store("m", "t:a", "k1", Features(sketch("x")), ENTRY)
    clock.now += DAY  # e^-1 < 0.5
    await store.store("m", "t:a", "k2", Features(sketch("y")), ENTRY)
    assert evictions(metrics, "decay") == 1
    assert (await store.lookup("m", "t:a", "k2", NONE)).entry == ENTRY


async def test_one_sweep_counts_each_eviction_under_its_reason(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    roomy = store_with(client, clock, metrics, capacity=2, min_retention=0.5)
    await roomy.store("m", "t:a", "old", Features(sketch("o")), ENTRY)
    await roomy.store("m", "t:a", "kept", Features(sketch("k")), ENTRY)
    await roomy.reinforce("m", "t:a", "kept")  # S: one day -> two
    clock.now += 0.9 * DAY  # old: e^-0.9 = 0.41 < 0.5; kept: e^-0.45 = 0.64
    # The same scope after its capacity was lowered to one: old decayed, kept is extra.
    tight = store_with(client, clock, metrics, roomy._prefix, capacity=1, min_retention=0.5)
    await tight.store("m", "t:a", "new", Features(sketch("n")), ENTRY)
    assert evictions(metrics, "decay") == 1 and evictions(metrics, "capacity") == 1
    assert (await tight.lookup("m", "t:a", "kept", NONE)).entry is None
    assert (await tight.lookup("m", "t:a", "new", NONE)).entry == ENTRY


async def test_storing_a_key_again_in_a_full_scope_evicts_nothing(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, capacity=2)
    await store.store("m", "t:a", "a", Features(sketch("a")), ENTRY)
    await store.store("m", "t:a", "b", Features(sketch("b")), ENTRY)
    clock.now += 60
    await store.store("m", "t:a", "a", Features(sketch("a")), ENTRY)
    assert evictions(metrics, "capacity") == 0
    assert (await store.lookup("m", "t:a", "b", NONE)).entry == ENTRY


async def test_a_redis_that_forgot_the_script_still_stores(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, capacity=1)
    await store.store("m", "t:a", "a", Features(sketch("a")), ENTRY)
    await client.script_flush()  # as after a restart: EVALSHA gets NOSCRIPT
    await store.store("m", "t:a", "b", Features(sketch("b")), ENTRY)
    assert (await store.lookup("m", "t:a", "b", NONE)).entry == ENTRY
    assert evictions(metrics, "capacity") == 1


class Ticking(Clock):
    """Each store reads a later time, as stores from many requests would."""

    def __call__(self) -> float:
        self.now += 1
        return self.now


async def test_two_replicas_storing_at_once_keep_the_scope_at_capacity(redis_url: str) -> None:
    clock, prefix = Ticking(), f"test-{uuid.uuid4().hex}:"
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    metrics = [Metrics(), Metrics()]
    replicas = [
        store_with(c, clock, m, prefix, capacity=10) for c, m in zip(clients, metrics, strict=True)
    ]
    try:
        await asyncio.gather(
            *(
                store.store("m", "t:a", f"{r}-{i}", Features(sketch(f"{r} {i}"), vector), ENTRY)
                for r, store in enumerate(replicas)
                for i in range(40)
                for vector in [unit_vector([1.0, float(i)]) if i % 2 else b""]
            )
        )
        scope, redis = f"{prefix}cache:m:t:a", clients[0]
        meta = {k.decode() for k in await redis.hkeys(f"{scope}:meta")}
        sketches = {k.decode() for k in await redis.hkeys(f"{scope}:sk")}
        vectors = {k.decode() for k in await redis.hkeys(f"{scope}:vec")}
        entries = {
            k.decode().removeprefix(f"{scope}:e:") async for k in redis.scan_iter(f"{scope}:e:*")
        }
        assert len(meta) == 10
        assert entries == meta and sketches == meta and vectors <= meta
        assert sum(evictions(m, "capacity") for m in metrics) == 2 * 40 - 10
        assert sum(evictions(m, "decay") for m in metrics) == 0
    finally:
        for c in clients:
            await c.aclose()


async def test_near_matches_give_familiarity(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics)
    text = "write a function that adds two numbers and returns the sum of them"
    await store.store("m", "t:a", "k1", Features(sketch(text)), ENTRY)
    near = await store.lookup("m", "t:a", "k2", Features(sketch(text + " quickly")))
    far = await store.lookup("m", "t:a", "k3", Features(sketch("parse csv files into rows")))
    other_scope = await store.lookup("m", "t:b", "k2", Features(sketch(text)))
    assert near.entry is None and 0.8 < near.similarity < 1.0
    assert far.similarity == 0.0 and other_scope.similarity == 0.0


async def test_embeddings_decide_near_matches_when_there_are_some(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics)
    await store.store("m", "t:a", "k1", Features(sketch("x"), unit_vector([1.0, 0.0])), ENTRY)
    tilted = await store.lookup("m", "t:a", "k2", Features(sketch("y"), unit_vector([1.0, 1.0])))
    assert math.isclose(tilted.similarity, math.sqrt(0.5), rel_tol=1e-6)
    # Without an embedding the sketches decide (different words: 0).
    assert (await store.lookup("m", "t:a", "k2", Features(sketch("y")))).similarity == 0.0
    await store.evict("m", "t:a", "k1", "poisoned")
    empty = await store.lookup("m", "t:a", "k2", Features(sketch("y"), unit_vector([1.0, 1.0])))
    assert empty.similarity == 0.0


async def test_a_store_that_is_down_costs_a_miss_not_a_request() -> None:
    from gateway.wiring.route_stats import RedisRouteStats
    from tests.conftest import free_port

    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    metrics = Metrics()
    store = store_with(dead, Clock(), metrics)
    stats = RedisRouteStats(dead, "p:", metrics.router)
    try:
        assert (await store.lookup("m", "t:a", "k", Features(sketch("x")))).entry is None
        await store.store("m", "t:a", "k", Features(sketch("x")), ENTRY)
        await store.reinforce("m", "t:a", "k")
        await store.evict("m", "t:a", "k", "poisoned")
        assert await stats.posteriors("m", 0) == {}
        await stats.record("m", 0, "fast", passed=True, tokens=10)
    finally:
        await dead.aclose()


async def test_a_lookup_names_the_nearest_other_entries_for_hints(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, max_hints=2, hint_min_similarity=0.3)
    text = "write a function that adds two numbers and returns the sum of them"
    await store.store("m", "t:a", "same", Features(sketch(text)), ENTRY)
    await store.store("m", "t:a", "close", Features(sketch(text + " quickly")), ENTRY)
    await store.store("m", "t:a", "closer", Features(sketch(text + " now")), ENTRY)
    await store.store("m", "t:a", "far", Features(sketch("parse csv files into rows")), ENTRY)
    await store.store("m", "t:b", "elsewhere", Features(sketch(text)), ENTRY)
    found = await store.lookup("m", "t:a", "same", Features(sketch(text)), exact=False)
    assert found.entry is None  # not read: "atlas": {"cache": false}
    assert set(found.near) == {"close", "closer"}  # never its own key, nor another scope's
    assert 0.8 < found.similarity < 1.0
    assert await store.entries("m", "t:a", found.near) == [ENTRY, ENTRY]
    # An evicted or decayed entry is no hint.
    await store.evict("m", "t:a", "close", "poisoned")
    assert await store.entries("m", "t:a", ["close", "closer"]) == [ENTRY]
    clock.now += 365 * DAY
    assert await store.entries("m", "t:a", ["closer"]) == []


async def test_near_matches_past_the_thread_threshold_rank_the_same(client: aioredis.Redis) -> None:
    clock, metrics = Clock(), Metrics()
    store = store_with(client, clock, metrics, max_hints=3, hint_min_similarity=0.0)
    for i in range(OFF_LOOP_SKETCHES + 5):
        vector = unit_vector([1.0, i / 10])
        await store.store("m", "t:a", f"k{i:02d}", Features(sketch("x"), vector), ENTRY)
    found = await store.lookup("m", "t:a", "new", Features(sketch("x"), unit_vector([1.0, 0.0])))
    assert found.near == ("k00", "k01", "k02")
    assert math.isclose(found.similarity, 1.0, rel_tol=1e-6)
