"""The usage recorder and reader against a real redis-server: totals add up across
replicas, nothing is lost at close or across a Redis outage, nothing counted twice when
a flush's reply is lost, and the metrics export."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, generate_latest

from config.limits import UsageSettings
from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.accounts.usage_metrics import UsageCollector
from gateway.accounts.usage_read import UsageCounts, UsageReader, sum_counts
from tests.own_redis import OwnRedis
from tests.unit.gateway.accounts.conftest import fragile_client

pytestmark = pytest.mark.redis

TODAY = date(2026, 3, 1)
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def _event(i: int, *, key_id: str = "k1", model: str = "m") -> UsageEvent:
    best_of_k = i % 3 == 0
    return UsageEvent(
        key_id=key_id,
        user_id="u1",
        model=model,
        route="best_of_k" if best_of_k else "pass_through",
        k=5 if best_of_k else 1,
        prompt_tokens=10 + i,
        completion_tokens=20,
        generated_tokens=5 * 20 + 300 if best_of_k else 20,
        verified=best_of_k and i % 2 == 0,
    )


def _expected(events: list[UsageEvent]) -> UsageCounts:
    total = UsageCounts()
    for e in events:
        total = total + UsageCounts(
            requests=1,
            prompt_tokens=e.prompt_tokens,
            completion_tokens=e.completion_tokens,
            generated_tokens=e.generated_tokens,
            verified=int(e.verified),
            routes={e.route: 1},
            k={e.k: 1},
        )
    return total


async def test_totals_add_up_across_two_replicas(redis_url: str, prefix: str) -> None:
    first, second = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        replicas = [UsageRecorder(c, prefix=prefix, clock=lambda: NOON) for c in (first, second)]
        events = [_event(i) for i in range(30)]
        for i, event in enumerate(events):
            replicas[i % 2].record(event)
        for _ in range(2):  # a second flush of each writes nothing twice
            assert all([await r.flush() for r in replicas])
        reader = UsageReader(first, prefix=prefix)
        (row,) = await reader.by_day(TODAY, TODAY)
        assert (row.key_id, row.user_id, row.model, row.day) == ("k1", "u1", "m", "2026-03-01")
        want = _expected(events)
        assert row.counts == want
        assert want.generated_tokens > 5 * want.completion_tokens / 3  # k=5 counts 5x
        assert want.k == {5: 10, 1: 20} and want.routes == {"best_of_k": 10, "pass_through": 20}
        assert row.counts.verified_rate == pytest.approx(5 / 30)
        (total,) = await reader.totals()
        assert total.counts == want and total.day is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_rows_by_day_key_user_and_model(client: aioredis.Redis, prefix: str) -> None:
    clock = [datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC).timestamp()]
    recorder = UsageRecorder(client, prefix=prefix, clock=lambda: clock[0])
    recorder.record(_event(1, key_id="k1", model="a:b"))  # names may hold separators
    recorder.record(_event(2, key_id="k2", model="a"))
    clock[0] += 2  # the next UTC day
    recorder.record(_event(4, key_id="k1", model="a:b"))
    recorder.record(UsageEvent(key_id="k3", model="a", route="cache_hit"))  # no user
    assert await recorder.flush()
    reader = UsageReader(client, prefix=prefix)
    rows = await reader.by_day(TODAY, date(2026, 3, 3))
    assert [(r.day, r.key_id, r.model) for r in rows] == [
        ("2026-03-01", "k1", "a:b"),
        ("2026-03-01", "k2", "a"),
        ("2026-03-02", "k1", "a:b"),
        ("2026-03-02", "k3", "a"),
    ]
    assert [r.day for r in await reader.by_day(TODAY, TODAY, key_id="k1")] == ["2026-03-01"]
    assert {r.key_id for r in await reader.by_day(TODAY, date(2026, 3, 2), user_id="u1")} == {
        "k1",
        "k2",
    }
    by_model = await reader.by_day(TODAY, date(2026, 3, 2), model="a:b")
    assert sum_counts(by_model) == _expected([_event(1), _event(4)])
    (anonymous,) = await reader.totals(key_id="k3")
    assert anonymous.user_id is None and anonymous.counts.routes == {"cache_hit": 1}
    with pytest.raises(ValueError, match="at most"):
        await reader.by_day(date(2026, 3, 2), TODAY)


async def test_nothing_lost_when_closed_right_after_records(
    client: aioredis.Redis, prefix: str
) -> None:
    events = [_event(i) for i in range(500)]
    async with UsageRecorder(client, prefix=prefix) as recorder:
        for event in events:
            recorder.record(event)
    assert recorder.pending_rows == 0
    assert sum_counts(await UsageReader(client, prefix=prefix).totals()) == _expected(events)


async def test_the_background_task_flushes_on_its_own(client: aioredis.Redis, prefix: str) -> None:
    settings = UsageSettings(flush_interval_s=0.2)
    reader = UsageReader(client, prefix=prefix)
    async with UsageRecorder(client, prefix=prefix, settings=settings) as recorder:
        recorder.record(_event(0))
        for _ in range(100):  # up to 10 s on a loaded machine
            if await reader.totals():
                break
            await asyncio.sleep(0.1)
        assert sum_counts(await reader.totals()) == _expected([_event(0)])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_failed_flush_keeps_the_batch_for_the_next(own_redis: OwnRedis) -> None:
    conn = fragile_client(own_redis.port)
    try:
        recorder = UsageRecorder(conn, prefix="u:")
        before = [_event(i) for i in range(10)]
        for event in before:
            recorder.record(event)
        own_redis.stop()
        assert not await recorder.flush()
        assert recorder.pending_rows == 1
        after = [_event(i, key_id="k2") for i in range(5)]
        for event in after:
            recorder.record(event)  # recorded while Redis is away
        assert not await recorder.flush()
        own_redis.start()  # empty: no persistence
        assert await recorder.flush()
        reader = UsageReader(conn, prefix="u:")
        assert sum_counts(await reader.totals(key_id="k1")) == _expected(before)
        assert sum_counts(await reader.totals(key_id="k2")) == _expected(after)
    finally:
        await conn.aclose()


async def test_a_batch_whose_reply_was_lost_is_not_counted_twice(
    client: aioredis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = UsageRecorder(client, prefix=prefix)
    write = recorder._write

    async def reply_lost(number: int, batch: dict[tuple[str, str], dict[str, int]]) -> None:
        await write(number, batch)  # Redis ran the EXEC...
        raise ConnectionError("connection reset")  # ...and its reply never came

    first = [_event(i) for i in range(3)]
    for event in first:
        recorder.record(event)
    monkeypatch.setattr(recorder, "_write", reply_lost)
    assert not await recorder.flush()
    assert recorder.pending_rows == 1
    monkeypatch.undo()
    second = [_event(i, key_id="k2") for i in range(2)]
    for event in second:
        recorder.record(event)
    assert await recorder.flush() and recorder.pending_rows == 0
    reader = UsageReader(client, prefix=prefix)
    assert sum_counts(await reader.totals(key_id="k1")) == _expected(first)
    assert sum_counts(await reader.totals(key_id="k2")) == _expected(second)


async def test_past_the_bound_new_rows_are_dropped_and_counted(
    unreachable: aioredis.Redis,
) -> None:
    settings = UsageSettings(max_pending_rows=2)
    recorder = UsageRecorder(unreachable, prefix="u:", settings=settings)
    for key_id in ("k1", "k2", "k3", "k1"):
        recorder.record(_event(0, key_id=key_id))
    assert not await recorder.flush()
    assert (recorder.pending_rows, recorder.dropped) == (2, 1)
    recorder.record(_event(0, key_id="k2"))  # a row already held still adds up
    recorder.record(_event(0, key_id="k4"))
    assert (recorder.pending_rows, recorder.dropped) == (3, 2)
    started = time.monotonic()
    await recorder.aclose()  # gives up after a few tries, logging what is lost
    assert time.monotonic() - started < 10


async def test_totals_as_prometheus_counters(client: aioredis.Redis, prefix: str) -> None:
    recorder = UsageRecorder(client, prefix=prefix)
    for i in range(3):
        recorder.record(_event(i))
    assert await recorder.flush()
    collector = UsageCollector(UsageReader(client, prefix=prefix))
    registry = CollectorRegistry()
    registry.register(collector)
    await collector.refresh()
    text = generate_latest(registry).decode()
    ids = 'key_id="k1",model="m",user_id="u1"'
    assert f"atlas_usage_requests_total{{{ids}}} 3.0" in text
    assert f"atlas_usage_generated_tokens_total{{{ids}}} 440.0" in text  # 400 + 20 + 20
    route = 'key_id="k1",model="m",route="best_of_k",user_id="u1"'
    assert f"atlas_usage_route_requests_total{{{route}}} 1.0" in text
    assert f'atlas_usage_k_requests_total{{k="5",{ids}}} 1.0' in text


async def test_a_hung_redis_fails_the_flush_in_time(silent_redis: aioredis.Redis) -> None:
    settings = UsageSettings(flush_timeout_s=0.3)
    recorder = UsageRecorder(silent_redis, prefix="u:", settings=settings)
    recorder.record(_event(0))
    assert not await recorder.flush()
    assert recorder.pending_rows == 1
