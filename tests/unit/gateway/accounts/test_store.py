"""The schema version key: set on first use, newer data refused, migrations run once."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.accounts.errors import SchemaError
from gateway.accounts.schema import SCHEMA_VERSION, schema_key, schema_lock_key
from gateway.accounts.store import Migration, ensure_schema

pytestmark = pytest.mark.redis


async def test_first_use_sets_the_version(client: aioredis.Redis, prefix: str) -> None:
    assert await client.get(schema_key(prefix)) is None
    assert await ensure_schema(client, prefix) == SCHEMA_VERSION
    assert await client.get(schema_key(prefix)) == str(SCHEMA_VERSION).encode()
    assert await ensure_schema(client, prefix) == SCHEMA_VERSION  # again: nothing to do


async def test_newer_data_is_refused(client: aioredis.Redis, prefix: str) -> None:
    await client.set(schema_key(prefix), str(SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match="newer"):
        await ensure_schema(client, prefix)


async def test_garbage_version_is_refused(client: aioredis.Redis, prefix: str) -> None:
    await client.set(schema_key(prefix), b"one")
    with pytest.raises(SchemaError, match="not a schema version"):
        await ensure_schema(client, prefix)


async def test_older_data_is_migrated_step_by_step_once(
    client: aioredis.Redis, other_client: aioredis.Redis, prefix: str
) -> None:
    await client.set(schema_key(prefix), b"1")
    ran: list[int] = []

    def step(n: int) -> Migration:
        async def migrate(redis: aioredis.Redis, p: str) -> None:
            ran.append(n)
            await asyncio.sleep(0.05)  # long enough for the other starter to wait on the lock
            await redis.set(f"{p}migrated:{n}", b"1")

        return migrate

    migrations = {2: step(2), 3: step(3)}
    found = await asyncio.gather(
        ensure_schema(client, prefix, version=3, migrations=migrations),
        ensure_schema(other_client, prefix, version=3, migrations=migrations),
    )
    assert sorted(found) == [1, 1]
    assert ran == [2, 3]  # once, in order, though two processes started together
    assert await client.get(schema_key(prefix)) == b"3"
    assert await client.exists(f"{prefix}migrated:2", f"{prefix}migrated:3") == 2
    assert await client.get(schema_lock_key(prefix)) is None


async def test_a_missing_migration_is_refused(client: aioredis.Redis, prefix: str) -> None:
    await client.set(schema_key(prefix), b"1")
    with pytest.raises(SchemaError, match="no migration to schema 2"):
        await ensure_schema(client, prefix, version=2, migrations={})
    assert await client.get(schema_key(prefix)) == b"1"
