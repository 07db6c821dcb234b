"""Per-key limits against a real redis-server: windows, debt, slots, atomicity across
clients, Redis away, and scripts flushed out of Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from config.limits import LimitsSettings
from gateway.accounts.limits import Limiter, LimitsUnavailableError, RateLimitedError, cap_k
from gateway.accounts.limits_headers import rate_limit_headers
from gateway.accounts.schema import KeyLimits

pytestmark = pytest.mark.redis


class Clock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp())


async def test_requests_per_minute_refuse_then_recover(
    client: aioredis.Redis, prefix: str, clock: Clock
) -> None:
    limiter = Limiter(client, prefix=prefix, clock=clock)
    limits = KeyLimits(rpm=2)
    first = await limiter.admit("k1", limits)
    assert first.allowed and first.requests is not None and first.requests.remaining == 1
    assert (await limiter.admit("k1", limits)).allowed
    refused = await limiter.admit("k1", limits)
    assert not refused.allowed and refused.reason == "requests"
    assert refused.retry_after_s == pytest.approx(30.0)  # one request refills in 60/2 s
    headers = rate_limit_headers(refused)
    assert headers["retry-after"] == "30"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    assert "x-ratelimit-limit-tokens" not in headers
    assert str(RateLimitedError(refused)) == (
        "Rate limit reached for requests per minute: try again in 30s"
    )
    assert (await limiter.admit("other-key", limits)).allowed  # keys are apart
    clock.now += 29
    assert not (await limiter.admit("k1", limits)).allowed  # a refusal consumed nothing
    clock.now += 1.5
    assert (await limiter.admit("k1", limits)).allowed


async def test_requests_per_minute_on_redis_clock(client: aioredis.Redis, prefix: str) -> None:
    limiter = Limiter(client, prefix=prefix)  # Redis's TIME, as in production
    limits = KeyLimits(rpm=120)  # two requests a second refill
    allowed = [(await limiter.admit("k", limits)).allowed for _ in range(125)]
    assert allowed.count(True) >= 120 and not allowed[-1]
    refused = await limiter.admit("k", limits)
    assert refused.retry_after_s is not None and 0 < refused.retry_after_s <= 0.5
    await asyncio.sleep(refused.retry_after_s + 0.3)
    assert (await limiter.admit("k", limits)).allowed


async def test_tokens_per_minute_count_every_candidate(
    client: aioredis.Redis, prefix: str, clock: Clock
) -> None:
    limiter = Limiter(client, prefix=prefix, clock=clock)
    limits = KeyLimits(tpm=1000)
    assert (await limiter.admit("k", limits)).allowed
    charged = await limiter.charge("k", limits, tokens=5 * 150)  # best-of-k, k=5
    assert charged is not None and charged.tokens is not None
    assert charged.tokens.remaining == 250
    assert (await limiter.admit("k", limits)).allowed  # tokens left: admitted
    charged = await limiter.charge("k", limits, tokens=5 * 150)  # into debt: -500
    assert charged is not None and charged.tokens is not None and charged.tokens.remaining == 0
    refused = await limiter.admit("k", limits)
    assert not refused.allowed and refused.reason == "tokens"
    assert refused.retry_after_s == pytest.approx(501 * 60 / 1000, abs=0.01)
    assert rate_limit_headers(refused)["x-ratelimit-remaining-tokens"] == "0"
    clock.now += 30
    assert not (await limiter.admit("k", limits)).allowed
    clock.now += 0.2
    assert (await limiter.admit("k", limits)).allowed


async def test_daily_budget_counts_every_candidate_and_ends_at_utc_midnight(
    client: aioredis.Redis, prefix: str
) -> None:
    clock = Clock(datetime(2026, 3, 1, 23, 58, tzinfo=UTC).timestamp())
    limiter = Limiter(client, prefix=prefix, clock=clock)
    limits = KeyLimits(daily_tokens=1000, tpm=100_000)
    for _ in range(2):
        assert (await limiter.admit("k", limits)).allowed
        await limiter.charge("k", limits, tokens=5 * 100)
    refused = await limiter.admit("k", limits)
    assert not refused.allowed and refused.reason == "daily_tokens"
    assert refused.retry_after_s == pytest.approx(120)
    headers = rate_limit_headers(refused)
    assert headers["x-ratelimit-limit-tokens"] == "1000"  # the binding one: the day's
    assert headers["x-ratelimit-reset-tokens"] == "2m0s"
    clock.now += 119
    assert not (await limiter.admit("k", limits)).allowed
    clock.now += 2  # the next UTC day
    admitted = await limiter.admit("k", limits)
    assert admitted.allowed and admitted.daily_tokens is not None
    assert admitted.daily_tokens.remaining == 1000


async def test_concurrency_cap_holds_under_gather_and_releases(
    client: aioredis.Redis, prefix: str
) -> None:
    limiter = Limiter(client, prefix=prefix)
    limits = KeyLimits(concurrency=3)
    decisions = await asyncio.gather(*(limiter.admit("k", limits) for _ in range(40)))
    held = [d for d in decisions if d.allowed]
    assert len(held) == 3 and all(d.lease is not None for d in held)
    refused = next(d for d in decisions if not d.allowed)
    assert refused.reason == "concurrency" and refused.retry_after_s == 1.0
    await limiter.release(held[0].lease)
    await limiter.release(held[0].lease)  # twice is harmless
    again = await limiter.admit("k", limits)
    assert again.allowed and again.concurrency is not None and again.concurrency.remaining == 0
    assert not (await limiter.admit("k", limits)).allowed
    for d in (*held[1:], again):
        await limiter.release(d.lease)
    assert sum([(await limiter.admit("k", limits)).allowed for _ in range(4)]) == 3


async def test_lease_of_a_crashed_holder_expires(
    client: aioredis.Redis, prefix: str, clock: Clock
) -> None:
    settings = LimitsSettings(lease_ttl_s=30)
    crashed = Limiter(client, prefix=prefix, settings=settings, clock=clock)
    limits = KeyLimits(concurrency=1)
    assert (await crashed.admit("k", limits)).allowed  # never released, never refreshed
    survivor = Limiter(client, prefix=prefix, settings=settings, clock=clock)
    clock.now += 29
    assert not (await survivor.admit("k", limits)).allowed
    clock.now += 2
    assert (await survivor.admit("k", limits)).allowed


async def test_a_refresh_extends_the_leases_still_held(
    client: aioredis.Redis, prefix: str, clock: Clock
) -> None:
    settings = LimitsSettings(lease_ttl_s=30)
    holder = Limiter(client, prefix=prefix, settings=settings, clock=clock)
    other = Limiter(client, prefix=prefix, settings=settings, clock=clock)
    limits = KeyLimits(concurrency=2)
    kept, released = [await holder.admit("k", limits) for _ in range(2)]
    assert kept.allowed and released.allowed
    await holder.release(released.lease)
    clock.now += 20
    await client.script_flush()  # the pipeline loads its script again
    await holder.refresh_leases()
    clock.now += 20  # 40 s after admission, 20 s after the refresh
    assert (await other.admit("k", limits)).allowed  # the released slot
    assert not (await other.admit("k", limits)).allowed  # the refreshed one holds
    clock.now += 11
    assert (await other.admit("k", limits)).allowed  # the refresh's 30 s are over


async def test_a_live_holder_keeps_its_slot_until_it_stops(
    client: aioredis.Redis, prefix: str
) -> None:
    settings = LimitsSettings(lease_ttl_s=1.5)  # refreshed every 0.5 s
    limits = KeyLimits(concurrency=1)
    other = Limiter(client, prefix=prefix, settings=settings)
    async with Limiter(client, prefix=prefix, settings=settings) as holder:
        assert (await holder.admit("k", limits)).allowed
        await asyncio.sleep(2.5)  # past the ttl: alive only by its refreshes
        assert not (await other.admit("k", limits)).allowed
    await asyncio.sleep(2.0)  # the holder "crashed": refreshes stopped, nothing released
    assert (await other.admit("k", limits)).allowed


async def test_no_over_admission_from_two_clients(redis_url: str, prefix: str) -> None:
    first, second = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        limiters = [Limiter(first, prefix=prefix), Limiter(second, prefix=prefix)]
        limits = KeyLimits(rpm=25, concurrency=40)
        decisions = await asyncio.gather(*(limiters[i % 2].admit("k", limits) for i in range(120)))
        assert sum(d.allowed for d in decisions) == 25  # the rpm binds, exactly
        slots = KeyLimits(concurrency=7)
        decisions = await asyncio.gather(*(limiters[i % 2].admit("k2", slots) for i in range(120)))
        assert sum(d.allowed for d in decisions) == 7
    finally:
        await first.aclose()
        await second.aclose()


async def test_fail_closed_when_redis_is_unreachable(unreachable: aioredis.Redis) -> None:
    limiter = Limiter(unreachable, prefix="t:")
    with pytest.raises(LimitsUnavailableError, match="Redis is unreachable"):
        await limiter.admit("k", KeyLimits(rpm=10))
    # An unlimited key needs no Redis; charges and releases are logged, never raised.
    assert (await limiter.admit("k", KeyLimits(max_k=3))).allowed
    assert await limiter.charge("k", KeyLimits(tpm=10), tokens=5) is None


async def test_fail_open_lets_requests_through(unreachable: aioredis.Redis) -> None:
    limiter = Limiter(unreachable, prefix="t:", settings=LimitsSettings(fail_open=True))
    decision = await limiter.admit("k", KeyLimits(rpm=10, concurrency=1))
    assert decision.allowed and decision.degraded and decision.lease is None
    assert rate_limit_headers(decision) == {}
    await limiter.release(decision.lease)


async def test_a_hung_redis_counts_as_unreachable(silent_redis: aioredis.Redis) -> None:
    settings = LimitsSettings(timeout_s=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(LimitsUnavailableError):
        await Limiter(silent_redis, prefix="t:", settings=settings).admit("k", KeyLimits(rpm=1))
    assert asyncio.get_running_loop().time() - started < 5
    opened = LimitsSettings(timeout_s=0.3, fail_open=True)
    decision = await Limiter(silent_redis, prefix="t:", settings=opened).admit(
        "k", KeyLimits(rpm=1)
    )
    assert decision.allowed and decision.degraded


async def test_a_redis_out_of_memory_fails_closed(client: aioredis.Redis, prefix: str) -> None:
    limiter = Limiter(client, prefix=prefix)
    assert (await limiter.admit("k", KeyLimits(rpm=5))).allowed  # the script is loaded
    await client.config_set("maxmemory", 1)  # every write refused (noeviction)
    try:
        with pytest.raises(LimitsUnavailableError, match="maxmemory"):
            await limiter.admit("k", KeyLimits(rpm=5))
    finally:
        await client.config_set("maxmemory", 0)
    assert (await limiter.admit("k", KeyLimits(rpm=5))).allowed


async def test_a_limit_of_zero_allows_nothing(unreachable: aioredis.Redis) -> None:
    limiter = Limiter(unreachable, prefix="t:")  # decided without Redis
    refused = await limiter.admit("k", KeyLimits(rpm=100, daily_tokens=0))
    assert not refused.allowed and refused.reason == "daily_tokens"
    assert rate_limit_headers(refused)["x-ratelimit-limit-tokens"] == "0"


def test_a_keys_max_k_caps_the_candidates() -> None:
    assert cap_k(KeyLimits(max_k=3), 5) == 3
    assert cap_k(KeyLimits(max_k=3), 2) == 2
    assert cap_k(KeyLimits(), 20) == 20


async def test_scripts_come_back_after_script_flush(
    client: aioredis.Redis, prefix: str, clock: Clock
) -> None:
    limiter = Limiter(client, prefix=prefix, clock=clock)
    limits = KeyLimits(rpm=3, tpm=100)
    assert (await limiter.admit("k", limits)).allowed
    await client.script_flush()  # as after a Redis restart
    assert (await limiter.admit("k", limits)).allowed
    await client.script_flush()
    charged = await limiter.charge("k", limits, tokens=40)
    assert charged is not None and charged.tokens is not None and charged.tokens.remaining == 60
    await client.script_flush()
    third = await limiter.admit("k", limits)
    assert third.requests is not None and third.requests.remaining == 0  # state kept
