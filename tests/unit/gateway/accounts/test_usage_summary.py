"""Usage summed in Redis (the admin UI's usage page) equals usage read back row by row."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.accounts.usage_read import UsageCounts, UsageReader, sum_counts
from gateway.accounts.usage_summary import UsageSummaries

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()


async def _seed(client: aioredis.Redis, prefix: str) -> None:
    clock = [NOW]
    recorder = UsageRecorder(client, prefix=prefix, clock=lambda: clock[0])
    rng = random.Random(3)
    for _ in range(300):
        clock[0] = NOW - rng.randrange(3) * 86400
        k = rng.choice((1, 4))
        recorder.record(
            UsageEvent(
                key_id=rng.choice(("key-a", "key-b", "key-c")),
                user_id=rng.choice(("u1", "u2", None)),
                model=rng.choice(("coder", 'odd "model"')),
                route="fast" if k == 1 else "best-of-k",
                k=k,
                prompt_tokens=rng.randrange(100),
                completion_tokens=rng.randrange(100),
                generated_tokens=rng.randrange(1000),
                verified=rng.random() < 0.5,
            )
        )
    assert await recorder.flush()


@pytest.mark.parametrize(
    "filters", [{}, {"key_id": "key-b"}, {"user_id": "u1"}, {"model": 'odd "model"'}]
)
async def test_summaries_match_the_rows(
    client: aioredis.Redis, prefix: str, filters: dict[str, str]
) -> None:
    await _seed(client, prefix)
    end = datetime.fromtimestamp(NOW, UTC).date()
    start = end - timedelta(days=3)  # one day with nothing at all
    days = [(start + timedelta(days=i)).isoformat() for i in range(4)]
    rows = await UsageReader(client, prefix=prefix).by_day(start, end, **filters)  # type: ignore[arg-type]
    found = await UsageSummaries(client, prefix=prefix).by_day(days, **filters)  # type: ignore[arg-type]
    assert [d.day for d in found] == days
    assert found[0].by_model == {} and found[0].by_key == {}
    for day in found:
        mine = [r for r in rows if r.day == day.day]
        assert day.total == sum_counts(mine)
        for model, counts in day.by_model.items():
            assert counts == sum_counts(r for r in mine if r.model == model)
        for key_id, counts in day.by_key.items():
            expected = sum_counts(r for r in mine if r.key_id == key_id)
            assert counts == UsageCounts(
                requests=expected.requests,
                prompt_tokens=expected.prompt_tokens,
                completion_tokens=expected.completion_tokens,
                generated_tokens=expected.generated_tokens,
                verified=expected.verified,
            )
    assert sum(d.total.requests for d in found) == sum_counts(rows).requests > 0
