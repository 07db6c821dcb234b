"""The in-process key cache across two replicas: a change on one reaches the other now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as aioredis

from gateway.accounts.key_cache import KeyCache
from gateway.accounts.keys import ApiKeys, KeyRejected
from gateway.accounts.schema import ApiKey, KeyLimits, User, api_key_key
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import PASSWORD, commands_sent

pytestmark = pytest.mark.redis

SECRET = b"s" * 32
LONG_TTL_S = 60.0  # so only an invalidation can explain a fresh answer


@pytest.fixture
async def cache_a(client: aioredis.Redis, prefix: str) -> AsyncIterator[KeyCache]:
    async with KeyCache(client, prefix, ttl_s=LONG_TTL_S) as cache:
        yield cache


@pytest.fixture
async def cache_b(other_client: aioredis.Redis, prefix: str) -> AsyncIterator[KeyCache]:
    async with KeyCache(other_client, prefix, ttl_s=LONG_TTL_S) as cache:
        yield cache


@pytest.fixture
async def alice(users: Users) -> User:
    return await users.create("alice", PASSWORD)


async def _poison(client: aioredis.Redis, prefix: str, record: ApiKey) -> None:
    """Change the stored record behind the caches' back (no publish)."""
    renamed = msgspec.structs.replace(record, name="changed in redis")
    await client.set(api_key_key(prefix, record.digest), msgspec.msgpack.encode(renamed))


async def _until(check: object, timeout_s: float = 2.0) -> float:
    assert callable(check)
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, "the change never arrived"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_a_revocation_on_one_replica_evicts_the_key_on_the_other(
    client: aioredis.Redis,
    other_client: aioredis.Redis,
    prefix: str,
    cache_a: KeyCache,
    cache_b: KeyCache,
    alice: User,
) -> None:
    replica_a = ApiKeys(client, prefix, SECRET, cache=cache_a)
    replica_b = ApiKeys(other_client, prefix, SECRET, cache=cache_b)
    created = await replica_a.create(alice.id, "k")
    assert await replica_b.authenticate(created.key) == created.record
    await _poison(client, prefix, created.record)
    # Served from B's memory: the poisoned record is not seen.
    assert await replica_b.authenticate(created.key) == created.record

    await replica_a.revoke(created.record.id)
    assert await replica_a.authenticate(created.key) == KeyRejected("revoked")  # at once here

    async def b_sees_it() -> bool:
        return await replica_b.authenticate(created.key) == KeyRejected("revoked")

    assert await _until(b_sees_it) < 1.0


async def test_an_update_on_one_replica_reaches_the_other(
    client: aioredis.Redis,
    other_client: aioredis.Redis,
    prefix: str,
    cache_a: KeyCache,
    cache_b: KeyCache,
    alice: User,
) -> None:
    replica_a = ApiKeys(client, prefix, SECRET, cache=cache_a)
    replica_b = ApiKeys(other_client, prefix, SECRET, cache=cache_b)
    created = await replica_a.create(alice.id, "k")
    await replica_b.authenticate(created.key)
    await replica_a.update(created.record.id, limits=KeyLimits(rpm=1))

    async def b_sees_it() -> bool:
        found = await replica_b.authenticate(created.key)
        return isinstance(found, ApiKey) and found.limits == KeyLimits(rpm=1)

    await _until(b_sees_it)


async def test_entries_expire_after_the_ttl(
    client: aioredis.Redis, prefix: str, alice: User
) -> None:
    now = [0.0]
    async with KeyCache(client, prefix, ttl_s=5, clock=lambda: now[0]) as cache:
        keys = ApiKeys(client, prefix, SECRET, cache=cache)
        created = await keys.create(alice.id, "k")
        await keys.authenticate(created.key)
        await _poison(client, prefix, created.record)
        now[0] = 4.9
        assert await keys.authenticate(created.key) == created.record
        now[0] = 5.0
        found = await keys.authenticate(created.key)
        assert isinstance(found, ApiKey) and found.name == "changed in redis"


async def test_no_cache_without_a_subscription(
    client: aioredis.Redis, prefix: str, alice: User
) -> None:
    cache = KeyCache(client, prefix, ttl_s=LONG_TTL_S)  # never started: cannot hear changes
    keys = ApiKeys(client, prefix, SECRET, cache=cache)
    created = await keys.create(alice.id, "k")
    await keys.authenticate(created.key)
    await _poison(client, prefix, created.record)
    found = await keys.authenticate(created.key)
    assert isinstance(found, ApiKey) and found.name == "changed in redis"


async def test_a_lookup_that_raced_a_change_is_not_cached(
    cache_a: KeyCache, alice: User, client: aioredis.Redis, prefix: str
) -> None:
    record = (await ApiKeys(client, prefix, SECRET).create(alice.id, "k")).record
    generation = cache_a.generation
    cache_a.clear()  # a change arrived while the lookup was in flight
    cache_a.put(record.digest, record, generation)
    assert cache_a.get(record.digest) is None
    cache_a.put(record.digest, record, cache_a.generation)
    assert cache_a.get(record.digest) == record


async def test_the_cache_is_bounded(client: aioredis.Redis, prefix: str, alice: User) -> None:
    record = ApiKey(
        id="0" * 12, digest="d", owner=alice.id, name="k", last_four="abcd", created_at=0
    )
    async with KeyCache(client, prefix, ttl_s=LONG_TTL_S, max_entries=3) as small:
        for i in range(10):
            small.put(f"d{i}", record, small.generation)
        assert 1 <= sum(small.get(f"d{i}") is not None for i in range(10)) <= 3


async def test_a_lost_subscription_stops_caching_until_it_is_back(
    client: aioredis.Redis,
    other_client: aioredis.Redis,
    prefix: str,
    cache_b: KeyCache,
    alice: User,
) -> None:
    replica_b = ApiKeys(other_client, prefix, SECRET, cache=cache_b)
    created = await ApiKeys(client, prefix, SECRET).create(alice.id, "k")
    await replica_b.authenticate(created.key)
    await _poison(client, prefix, created.record)
    await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")

    async def b_asks_redis() -> bool:
        found = await replica_b.authenticate(created.key)
        return isinstance(found, ApiKey) and found.name == "changed in redis"

    await _until(b_asks_redis)
    assert cache_b.get(created.record.digest) is None

    async def b_caches_again() -> bool:
        await replica_b.authenticate(created.key)
        return cache_b.get(created.record.digest) is not None

    await _until(b_caches_again, timeout_s=5.0)  # resubscribed after its back-off


async def test_a_cached_key_costs_no_command(
    client: aioredis.Redis, prefix: str, cache_a: KeyCache, alice: User
) -> None:
    keys = ApiKeys(client, prefix, SECRET, cache=cache_a)
    created = await keys.create(alice.id, "k")
    assert await commands_sent(client, keys.authenticate(created.key)) == 1
    assert await commands_sent(client, keys.authenticate(created.key)) == 0
