"""Typed calls for the redis.asyncio commands whose stubs answer `Awaitable[T] | T`.

One place for the casts, so the modules above read as plain awaits under mypy strict.
A pipeline in watch mode is a `Redis` too: these run on either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline, PubSub


async def smembers(redis: aioredis.Redis, key: str) -> set[bytes]:
    return await cast("Awaitable[set[bytes]]", redis.smembers(key))


async def scard(redis: aioredis.Redis, key: str) -> int:
    return await cast("Awaitable[int]", redis.scard(key))


async def hmget(redis: aioredis.Redis, key: str, fields: Sequence[str]) -> list[bytes | None]:
    return await cast("Awaitable[list[bytes | None]]", redis.hmget(key, list(fields)))


async def hset(redis: aioredis.Redis, key: str, field: str, value: str) -> int:
    return await cast("Awaitable[int]", redis.hset(key, field, value))


def begin(pipe: Pipeline) -> None:
    """MULTI: after the reads of a WATCH, queue the writes."""
    pipe.multi()  # type: ignore[no-untyped-call]


async def close_pubsub(pubsub: PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]
