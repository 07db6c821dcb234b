"""The training lease and the fenced publication, on a real Redis: one holder at a time,
expiry hands it on, and a stale holder cannot publish over a newer one."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from lens.lease import Held, TrainingLease
from lens.published import PublishedCheckpoints

pytestmark = [pytest.mark.redis, pytest.mark.timeout(15)]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


async def test_lease_is_exclusive_and_each_acquisition_gets_a_newer_token(
    client: aioredis.Redis, prefix: str
) -> None:
    a = TrainingLease(client, prefix=prefix, ttl_s=10)
    b = TrainingLease(client, prefix=prefix, ttl_s=10)
    first = await a.acquire()
    assert first is not None and first.token == 1
    assert await b.acquire() is None
    assert await a.holder() == first.holder
    assert await b.release(Held(holder="someone else", token=1)) is False
    assert await a.release(first)
    second = await b.acquire()
    assert second is not None and second.token == 2 and second.holder != first.holder
    assert await a.acquire() is None


async def test_expiry_lets_another_take_it_and_the_old_holder_cannot_renew_or_release(
    client: aioredis.Redis, prefix: str
) -> None:
    a = TrainingLease(client, prefix=prefix, ttl_s=0.3)
    b = TrainingLease(client, prefix=prefix, ttl_s=10)
    old = await a.acquire()
    assert old is not None
    await asyncio.sleep(0.4)  # no renewal: the lease expires
    new = await b.acquire()
    assert new is not None and new.token > old.token
    assert await a.renew(old) is False
    assert await a.release(old) is False  # does not delete the new holder's lease
    assert await b.holder() == new.holder


async def test_hold_renews_past_the_ttl_then_releases(client: aioredis.Redis, prefix: str) -> None:
    # Renewed every ttl/3 from the loop: 1 s leaves room for a loop a loaded CI stalls.
    a = TrainingLease(client, prefix=prefix, ttl_s=1.0)
    b = TrainingLease(client, prefix=prefix, ttl_s=1.0)
    async with a.hold() as keeper:
        assert keeper is not None
        for _ in range(30):  # 3 s, three ttls
            await asyncio.sleep(0.1)
            assert await b.acquire() is None
        assert not keeper.lost.is_set()
        async with b.hold() as other:
            assert other is None
    assert await a.holder() is None  # released at once, not after the ttl


async def test_a_lease_taken_away_is_reported_lost(client: aioredis.Redis, prefix: str) -> None:
    a = TrainingLease(client, prefix=prefix, ttl_s=1.0)
    async with a.hold() as keeper:
        assert keeper is not None
        await client.delete(a.key)  # as if it had expired while this holder was paused
        await client.set(a.key, b"another replica")
        for _ in range(40):  # the next renewal, ttl/3 later, finds it gone
            if keeper.lost.is_set():
                break
            await asyncio.sleep(0.05)
        assert keeper.lost.is_set()
    assert await a.holder() == "another replica"  # release left the new holder's lease


async def test_fencing_blocks_a_stale_publisher(client: aioredis.Redis, prefix: str) -> None:
    lease_a = TrainingLease(client, prefix=prefix, ttl_s=0.2)
    lease_b = TrainingLease(client, prefix=prefix, ttl_s=10)
    published = PublishedCheckpoints(client, prefix=prefix)
    assert await published.version() is None and await published.fetch() is None
    stale = await lease_a.acquire()
    assert stale is not None
    await asyncio.sleep(0.3)  # A pauses past its ttl; B takes the lease and publishes
    fresh = await lease_b.acquire()
    assert fresh is not None
    assert await published.publish(fresh.token, b"B's model") == 1
    assert await published.publish(stale.token, b"A's model") is None  # A wakes up: fenced
    assert await published.fetch() == (1, b"B's model")
    assert await published.publish(fresh.token, b"again") is None  # one publication a token


async def test_a_stale_holder_that_publishes_first_is_superseded(
    client: aioredis.Redis, prefix: str
) -> None:
    published = PublishedCheckpoints(client, prefix=prefix)
    assert await published.publish(3, b"old holder", floor=7) == 8  # above the local history
    assert await published.publish(4, b"new holder") == 9
    assert await published.fetch() == (9, b"new holder")
