from __future__ import annotations

import asyncio

import pytest

from engines.errors import CapacityExceededError, UpstreamUnavailableError
from engines.pool import Upstream, UpstreamPool


def test_least_outstanding_by_weight() -> None:
    a, b = Upstream("http://a", weight=1), Upstream("http://b", weight=2)
    pool = UpstreamPool("m", [a, b])
    picks = [pool.try_acquire() for _ in range(3)]
    assert [u.url for u in picks if u] == ["http://a", "http://b", "http://b"]
    assert (a.in_flight, b.in_flight) == (1, 2)


def test_unhealthy_upstreams_are_skipped() -> None:
    a, b = Upstream("http://a"), Upstream("http://b")
    pool = UpstreamPool("m", [a, b])
    pool.mark(a, False, "down")
    assert pool.try_acquire() is b
    assert pool.try_acquire(exclude=[b]) is None


async def test_all_down_is_unavailable_with_reasons() -> None:
    a = Upstream("http://a")
    pool = UpstreamPool("m", [a])
    pool.mark(a, False, "connect failed")
    with pytest.raises(UpstreamUnavailableError, match="connect failed"):
        await pool.acquire()


async def test_waits_for_a_slot_then_gets_it() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=2, max_queue=4)
    first = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    pool.release(first)
    assert await asyncio.wait_for(waiter, 1) is a


async def test_full_queue_and_queue_timeout_are_capacity_errors() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=0.1, max_queue=1)
    await pool.acquire()
    waiting = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    with pytest.raises(CapacityExceededError, match="queue is full"):
        await pool.acquire()
    with pytest.raises(CapacityExceededError, match="no free upstream slot"):
        await waiting
