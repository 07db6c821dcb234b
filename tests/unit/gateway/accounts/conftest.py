"""Fixtures of the accounts tests: a real Redis (the session's), a fresh prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest
import redis.asyncio as aioredis

from config.accounts import PasswordHashSettings
from gateway.accounts.passwords import Passwords
from gateway.accounts.users import Users

# OWASP's minimum, the cheapest the settings allow: fast enough for tests, never lower.
MIN_HASH = PasswordHashSettings(memory_kib=19 * 1024, time_cost=2, parallelism=1, threads=2)
PASSWORD = "correct horse battery"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_url, decode_responses=False)
    yield conn
    await conn.aclose()


@pytest.fixture
async def other_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A second, independent connection pool: another replica of the gateway."""
    conn = aioredis.Redis.from_url(redis_url, decode_responses=False)
    yield conn
    await conn.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def passwords() -> AsyncIterator[Passwords]:
    async with Passwords(MIN_HASH) as hasher:
        yield hasher


@pytest.fixture
def users(client: aioredis.Redis, prefix: str, passwords: Passwords) -> Users:
    return Users(client, prefix, passwords)


async def commands_sent(client: aioredis.Redis, action: Awaitable[object]) -> int:
    """How many commands Redis processed for `action` (the two INFO calls discounted)."""

    async def total() -> int:
        return int((await client.info("stats"))["total_commands_processed"])

    before = await total()
    await action
    return await total() - before - 1
