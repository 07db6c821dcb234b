from __future__ import annotations

import asyncio

import pytest

from engines.errors import CapacityExceededError, QueueFullError, UpstreamUnavailableError
from engines.pool import Upstream, UpstreamPool
from engines.scheduler import Asker, Priority


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


def alice(priority: Priority = Priority.CANDIDATE) -> Asker:
    return Asker("alice", priority)


BOB = Asker("bob", Priority.PASS_THROUGH)


async def queued(pool: UpstreamPool, asker: Asker) -> asyncio.Task[Upstream]:
    task = asyncio.create_task(pool.acquire((), asker))
    await asyncio.sleep(0)  # in the queue now, in this order
    return task


async def test_a_key_holding_fewer_slots_is_served_before_a_key_with_a_queue() -> None:
    a = Upstream("http://a", max_in_flight=2)
    pool = UpstreamPool("m", [a], queue_timeout_s=5)
    held = [await pool.acquire((), alice()), await pool.acquire((), alice())]
    alices = [await queued(pool, alice()) for _ in range(5)]
    bobs = await queued(pool, BOB)
    pool.release(held[0], "alice")
    await asyncio.sleep(0)
    # Bob holds none, Alice one: Bob's request gets the slot though it came last.
    assert bobs.done() and not any(t.done() for t in alices)
    pool.release(held[1], "alice")
    await asyncio.sleep(0)
    assert [t.done() for t in alices] == [True, False, False, False, False]
    for task in [bobs, *alices[:1]]:
        task.cancel()
    for task in alices[1:]:
        task.cancel()
    await asyncio.gather(bobs, *alices, return_exceptions=True)


async def test_within_a_key_pass_through_then_tests_repairs_candidates() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=5)
    first = await pool.acquire((), alice())
    order = [Priority.CANDIDATE, Priority.REPAIR, Priority.TESTS, Priority.PASS_THROUGH]
    tasks = {p: await queued(pool, alice(p)) for p in order}
    served = []
    held = first
    for _ in order:
        pool.release(held, "alice")
        await asyncio.sleep(0)
        done = [p for p, t in tasks.items() if t.done() and p not in served]
        assert len(done) == 1
        served.append(done[0])
        held = tasks[done[0]].result()
    assert served == sorted(order)
    pool.release(held, "alice")


async def test_a_newcomer_never_jumps_the_queue() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=5)
    first = await pool.acquire((), alice())
    waiting = await queued(pool, BOB)
    pool.release(first, "alice")
    # The freed slot went to the waiter at once: a request arriving now must queue.
    late = await queued(pool, alice())
    assert waiting.done() and not late.done()
    pool.release(waiting.result(), "bob")
    assert await asyncio.wait_for(late, 1) is a
    assert pool.free_slots() == 0
    pool.release(a, "alice")
    assert pool.free_slots() == 1 and pool.queued == 0


async def test_a_keys_full_share_of_the_queue_is_a_queue_full_error() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=4, max_queue=8, max_queue_per_key=2)
    await pool.acquire((), alice())
    waiting = [await queued(pool, alice()) for _ in range(2)]
    with pytest.raises(QueueFullError, match="this key already has 2") as refused:
        await pool.acquire((), alice())
    assert refused.value.retry_after_s == 1
    # Another key still queues; a search's test-writing request is never refused.
    others = [await queued(pool, BOB), await queued(pool, alice(Priority.TESTS))]
    assert not any(t.done() for t in others)
    for task in [*waiting, *others]:
        task.cancel()
    await asyncio.gather(*waiting, *others, return_exceptions=True)
    assert pool.queued == 0


async def test_the_gateways_own_requests_outwait_the_pass_through_queue_timeout() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=0.05, internal_queue_timeout_s=5)
    first = await pool.acquire((), alice())
    own = await queued(pool, alice(Priority.TESTS))
    with pytest.raises(CapacityExceededError, match=r"no free upstream slot for 0\.05 s"):
        await pool.acquire((), BOB)
    assert not own.done()
    pool.release(first, "alice")
    assert await asyncio.wait_for(own, 1) is a


async def test_a_slot_handed_to_a_cancelled_waiter_goes_on_to_the_next() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=5)
    first = await pool.acquire((), alice())
    doomed, next_one = await queued(pool, BOB), await queued(pool, alice())
    pool.release(first, "alice")  # handed to doomed, which has not run yet
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    assert await asyncio.wait_for(next_one, 1) is a and a.in_flight == 1


async def test_waiters_fail_at_once_when_the_last_usable_upstream_goes_down() -> None:
    a = Upstream("http://a", max_in_flight=1)
    pool = UpstreamPool("m", [a], queue_timeout_s=30)
    held = await pool.acquire()
    gone, waiting = await queued(pool, BOB), await queued(pool, alice())
    gone.cancel()  # its future is cancelled before its task runs again
    pool.mark(a, False, "connect failed")
    with pytest.raises(UpstreamUnavailableError, match="connect failed"):
        await asyncio.wait_for(waiting, 1)
    await asyncio.gather(gone, return_exceptions=True)
    assert pool.queued == 0
    pool.release(held)
