"""Reading usage back: per day over a date range, or all-time totals, filtered by key,
user or model (for the admin API and the metrics export). Layout: `schema.py`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import msgspec
import redis.asyncio as aioredis

from gateway.accounts.redis_ops import smembers
from gateway.accounts.schema import (
    K_FIELD,
    ROUTE_FIELD,
    USAGE_FIELDS,
    usage_day_key,
    usage_day_rows_key,
    usage_total_key,
    usage_total_rows_key,
)

MAX_RANGE_DAYS = 400  # one read: about a year of days, never an unbounded scan


class UsageCounts(msgspec.Struct, frozen=True, kw_only=True):
    requests: int = 0
    prompt_tokens: int = 0  # of the answers returned
    completion_tokens: int = 0  # of the answers returned
    generated_tokens: int = 0  # every candidate, test-writing and repair request
    verified: int = 0  # answers that passed verification
    routes: dict[str, int] = msgspec.field(default_factory=dict)  # requests per route
    k: dict[int, int] = msgspec.field(default_factory=dict)  # requests per candidate count

    @property
    def verified_rate(self) -> float | None:
        return self.verified / self.requests if self.requests else None

    def __add__(self, other: UsageCounts) -> UsageCounts:
        return UsageCounts(
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            verified=self.verified + other.verified,
            routes=_sum_maps(self.routes, other.routes),
            k=_sum_maps(self.k, other.k),
        )


class UsageRow(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    user_id: str | None
    model: str
    day: str | None  # YYYY-MM-DD (UTC); None for all-time totals
    counts: UsageCounts


def sum_counts(rows: Iterable[UsageRow]) -> UsageCounts:
    total = UsageCounts()
    for row in rows:
        total = total + row.counts
    return total


def _sum_maps[T](a: dict[T, int], b: dict[T, int]) -> dict[T, int]:
    out = dict(a)
    for name, n in b.items():
        out[name] = out.get(name, 0) + n
    return out


def _counts(raw: dict[bytes, bytes]) -> UsageCounts:
    return usage_counts((name.decode(), int(value)) for name, value in raw.items())


def usage_counts(fields: Iterable[tuple[str, int]]) -> UsageCounts:
    """A ledger row's counts from its hash fields (route and k fields by their prefix)."""
    plain: dict[str, int] = {}
    routes: dict[str, int] = {}
    ks: dict[int, int] = {}
    for name, value in fields:
        if name.startswith(ROUTE_FIELD):
            routes[name.removeprefix(ROUTE_FIELD)] = value
        elif name.startswith(K_FIELD):
            ks[int(name.removeprefix(K_FIELD))] = value
        elif name in USAGE_FIELDS:
            plain[name] = value
    return UsageCounts(routes=routes, k=ks, **plain)


_Ids = tuple[str, str | None, str]


class UsageReader:
    def __init__(self, redis: aioredis.Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def by_day(
        self,
        start: date,
        end: date,
        *,
        key_id: str | None = None,
        user_id: str | None = None,
        model: str | None = None,
    ) -> list[UsageRow]:
        """Rows of each UTC day from start to end (both included), oldest first."""
        if end < start or (end - start).days >= MAX_RANGE_DAYS:
            raise ValueError(f"a usage range runs forward over at most {MAX_RANGE_DAYS} days")
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.smembers(usage_day_rows_key(self._prefix, day))
            members: list[set[bytes]] = await pipe.execute()
        wanted = [
            (day, row, ids)
            for day, rows in zip(days, members, strict=True)
            for row, ids in sorted(_decoded(rows))
            if _matches(ids, key_id, user_id, model)
        ]
        keys = [usage_day_key(self._prefix, day, row) for day, row, _ in wanted]
        hashes = await self._hashes(keys)
        return [
            UsageRow(key_id=k, user_id=u, model=m, day=day, counts=_counts(raw))
            for (day, _, (k, u, m)), raw in zip(wanted, hashes, strict=True)
            if raw
        ]

    async def totals(
        self, *, key_id: str | None = None, user_id: str | None = None, model: str | None = None
    ) -> list[UsageRow]:
        """All-time rows, one per (key, user, model)."""
        members = await smembers(self._redis, usage_total_rows_key(self._prefix))
        wanted = [
            (row, ids)
            for row, ids in sorted(_decoded(members))
            if _matches(ids, key_id, user_id, model)
        ]
        hashes = await self._hashes([usage_total_key(self._prefix, row) for row, _ in wanted])
        return [
            UsageRow(key_id=k, user_id=u, model=m, day=None, counts=_counts(raw))
            for (_, (k, u, m)), raw in zip(wanted, hashes, strict=True)
            if raw
        ]

    async def _hashes(self, keys: list[str]) -> list[dict[bytes, bytes]]:
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            result: list[dict[bytes, bytes]] = await pipe.execute()
            return result


def _decoded(members: Iterable[bytes]) -> list[tuple[str, _Ids]]:
    out = []
    for member in members:
        row = member.decode()
        key_id, user_id, model = msgspec.json.decode(row, type=tuple[str, str, str])
        out.append((row, (key_id, user_id or None, model)))
    return out


def _matches(ids: _Ids, key_id: str | None, user_id: str | None, model: str | None) -> bool:
    return (
        (key_id is None or ids[0] == key_id)
        and (user_id is None or ids[1] == user_id)
        and (model is None or ids[2] == model)
    )
