"""Redis clients for the accounts' tests: the session's real server, and stand-ins
for a Redis that is down or hung."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from config.accounts import PasswordHashSettings
from gateway.accounts.passwords import Passwords
from gateway.accounts.users import Users
from tests.conftest import free_port


def fragile_client(port: int) -> aioredis.Redis:
    """A client that does not retry, so a dead server shows at once."""
    return aioredis.Redis(port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    conn = aioredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def unreachable() -> AsyncIterator[aioredis.Redis]:
    conn = fragile_client(free_port())  # nothing listens there
    yield conn
    await conn.aclose()


@pytest.fixture
async def silent_redis() -> AsyncIterator[aioredis.Redis]:
    """A port that accepts connections and never answers: a hung Redis."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    conn = fragile_client(server.sockets[0].getsockname()[1])
    yield conn
    await conn.aclose()
    server.close()
    for writer in writers:
        writer.close()
    await server.wait_closed()


# --- Users, keys, sessions (accounts-core) ---------------------------------------------

# OWASP's minimum, the cheapest the settings allow: fast enough for tests, never lower.
MIN_HASH = PasswordHashSettings(memory_kib=19 * 1024, time_cost=2, parallelism=1, threads=2)
PASSWORD = "correct horse battery"


@pytest.fixture
async def other_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A second, independent connection pool: another replica of the gateway."""
    conn = aioredis.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


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
