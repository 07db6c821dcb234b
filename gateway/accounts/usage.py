"""The usage recorder: what each answer cost, per key, user, model and UTC day, added
up in Redis off the hot path.

`record(event)` only adds to counters in memory (no await, no I/O). A background task
flushes them every `flush_interval_s` as one MULTI of HINCRBYs, so the counts of many
replicas add up; `aclose()` flushes what is left (on SIGTERM, after the drain). A batch
that fails to flush is kept as it is, with its number, and tried again first. While
Redis is away memory grows with the distinct (day, key, user, model) rows seen, not
with requests; past `max_pending_rows` an event for a new row is dropped and counted
(`dropped`), and rows already held keep adding up.

Exactly once: the MULTI also sets this recorder's last written batch number
(`usage:flushed:<writer>`), so when a reply was lost after Redis ran the EXEC (a
timeout, a dropped connection), the retry reads the number and does not add the batch
a second time.

Key layout and counter fields: `schema.py` (limits and usage section). Reading:
`usage_read.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

import msgspec
import redis.asyncio as aioredis
import redis.exceptions

from config.limits import UsageSettings
from gateway.accounts.schema import (
    K_FIELD,
    ROUTE_FIELD,
    usage_day_key,
    usage_day_rows_key,
    usage_flushed_key,
    usage_row,
    usage_total_key,
    usage_total_rows_key,
)
from gateway.flushing import PeriodicFlush

logger = logging.getLogger(__name__)

# A flush that meets any of these keeps its batch for the next one (TimeoutError, from
# flush_timeout_s, is an OSError).
FLUSH_ERRORS = (redis.exceptions.RedisError, OSError)
CLOSE_ATTEMPTS = 3  # flushes tried by aclose() before it gives up
CLOSE_PAUSE_S = 0.5
FLUSHED_TTL_S = 86400  # a batch retried later than this after a lost reply may count twice

Batch = dict[tuple[str, str], dict[str, int]]  # (day, row) -> counter field -> amount


class UsageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One answered request, as the edge reports it."""

    key_id: str
    model: str
    route: str  # free text: fast, standard, hard, cache_hit, pass_through, best_of_k...
    user_id: str | None = None
    k: int = 1  # candidates asked for
    prompt_tokens: int = 0  # of the answer returned
    completion_tokens: int = 0  # of the answer returned
    # Every token generated for it: all candidates, test-writing and repair requests.
    generated_tokens: int = 0
    verified: bool = False  # the answer returned passed verification


def _counters(event: UsageEvent) -> dict[str, int]:
    return {
        "requests": 1,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "generated_tokens": event.generated_tokens,
        "verified": int(event.verified),
        f"{ROUTE_FIELD}{event.route}": 1,
        f"{K_FIELD}{event.k}": 1,
    }


def _add(into: dict[str, int], counters: dict[str, int]) -> None:
    for field, amount in counters.items():
        into[field] = into.get(field, 0) + amount


class UsageRecorder:
    """Batches usage in memory and flushes it to Redis (`async with` runs the flusher
    and flushes at the end)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        settings: UsageSettings | None = None,
        clock: Callable[[], float] = time.time,  # seconds since the epoch: the UTC day
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._settings = settings or UsageSettings()
        self._clock = clock
        self._batch: Batch = {}
        # Batches whose flush failed, oldest first, with their numbers: retried as they are.
        self._unsent: deque[tuple[int, Batch]] = deque()
        self._unsent_rows = 0
        self._writer = uuid.uuid4().hex  # this recorder's batches, in `usage:flushed:`
        self._numbered = 0  # the last batch number given
        self._tried = 0  # the last batch number sent to Redis at least once
        self._dropped = 0
        self._warned_full = False
        self._lock = asyncio.Lock()  # one flush at a time: the loop's or aclose()'s
        self._flusher = PeriodicFlush(
            self.flush,
            self._settings.flush_interval_s,
            name="usage-flush",
            close_attempts=CLOSE_ATTEMPTS,
            close_pause_s=CLOSE_PAUSE_S,
        )

    @property
    def pending_rows(self) -> int:
        return len(self._batch) + self._unsent_rows

    @property
    def dropped(self) -> int:
        """Events lost because the batch was full (Redis away for long)."""
        return self._dropped

    def record(self, event: UsageEvent) -> None:
        day = datetime.fromtimestamp(self._clock(), UTC).date().isoformat()
        slot = (day, usage_row(event.key_id, event.user_id, event.model))
        counters = self._batch.get(slot)
        if counters is None:
            if self.pending_rows >= self._settings.max_pending_rows and not self._held(slot):
                self._dropped += 1
                if not self._warned_full:
                    self._warned_full = True
                    logger.error("usage batch full (%d rows): events dropped", len(self._batch))
                return
            counters = self._batch[slot] = {}
        _add(counters, _counters(event))

    def _held(self, slot: tuple[str, str]) -> bool:
        return any(slot in batch for _, batch in self._unsent)

    async def flush(self) -> bool:
        """Write the batches; True when all were written (or none was pending), False
        when Redis failed and they are kept for the next flush."""
        async with self._lock:
            if self._batch:
                self._numbered += 1
                self._unsent.append((self._numbered, self._batch))
                self._unsent_rows += len(self._batch)
                self._batch = {}
            while self._unsent:
                number, batch = self._unsent[0]
                try:
                    async with asyncio.timeout(self._settings.flush_timeout_s):
                        await self._send(number, batch)
                except FLUSH_ERRORS as exc:
                    logger.warning("usage flush failed, %d rows kept: %s", self.pending_rows, exc)
                    return False
                self._unsent.popleft()
                self._unsent_rows -= len(batch)
            self._warned_full = False
            return True

    async def _send(self, number: int, batch: Batch) -> None:
        if number <= self._tried and await self._written(number):
            return  # the earlier try reached Redis; only its reply was lost
        self._tried = max(self._tried, number)
        await self._write(number, batch)

    async def _written(self, number: int) -> bool:
        key = usage_flushed_key(self._prefix, self._writer)
        last = await cast("Awaitable[bytes | None]", self._redis.get(key))
        return last is not None and int(last) >= number

    async def _write(self, number: int, batch: Batch) -> None:
        retention_s = self._settings.retention_days * 86400
        total_rows = usage_total_rows_key(self._prefix)
        async with self._redis.pipeline(transaction=True) as pipe:
            for (day, row), counters in batch.items():
                day_key = usage_day_key(self._prefix, day, row)
                total_key = usage_total_key(self._prefix, row)
                day_rows = usage_day_rows_key(self._prefix, day)
                for field, amount in counters.items():
                    pipe.hincrby(day_key, field, amount)
                    pipe.hincrby(total_key, field, amount)
                pipe.expire(day_key, retention_s)
                pipe.sadd(day_rows, row)
                pipe.expire(day_rows, retention_s)
                pipe.sadd(total_rows, row)
            pipe.set(usage_flushed_key(self._prefix, self._writer), number, ex=FLUSHED_TTL_S)
            await pipe.execute()

    async def __aenter__(self) -> UsageRecorder:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def start(self) -> None:
        self._flusher.start()

    async def aclose(self) -> None:
        """Stop the flusher and write what is left, retrying a Redis blip briefly."""
        if await self._flusher.close():
            return
        logger.error("usage not written at shutdown: %d rows lost", self.pending_rows)
