"""Redis clients for the accounts' tests: the session's real server, and stand-ins
for a Redis that is down or hung."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
