"""The schema version at `{prefix}schema`: set on first use, migrated, or refused.

A process never runs against data newer than it understands. Older data is brought up
one version at a time by `MIGRATIONS[n]` (from n - 1 to n) under a lock, so of several
replicas starting together exactly one migrates and the others wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio as aioredis

from gateway.accounts.errors import SchemaError
from gateway.accounts.schema import SCHEMA_VERSION, schema_key, schema_lock_key

logger = logging.getLogger(__name__)

Migration = Callable[[aioredis.Redis, str], Awaitable[None]]
# Version n -> the step from n - 1 to n. Empty while there is only version 1.
MIGRATIONS: Mapping[int, Migration] = {}
MIGRATION_LOCK_MS = 60_000
_WAIT_STEP_S = 0.05


async def ensure_schema(
    redis: aioredis.Redis,
    prefix: str,
    *,
    version: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] = MIGRATIONS,
    wait_s: float = MIGRATION_LOCK_MS / 1000,
) -> int:
    """Make `{prefix}schema` equal `version`; return the version found before."""
    key = schema_key(prefix)
    await redis.set(key, str(version), nx=True)
    found = await _read(redis, key)
    if found > version:
        raise SchemaError(
            f"the accounts data at {prefix!r} has schema {found}, newer than this "
            f"gateway's {version}: upgrade the gateway"
        )
    if found == version:
        return found
    missing = [n for n in range(found + 1, version + 1) if n not in migrations]
    if missing:
        raise SchemaError(f"no migration to schema {missing[0]} (data at {found})")
    await _migrate_locked(redis, prefix, found, version, migrations, wait_s)
    return found


async def _migrate_locked(
    redis: aioredis.Redis,
    prefix: str,
    found: int,
    version: int,
    migrations: Mapping[int, Migration],
    wait_s: float,
) -> None:
    key, lock = schema_key(prefix), schema_lock_key(prefix)
    deadline = time.monotonic() + wait_s
    while not await redis.set(lock, b"1", nx=True, px=MIGRATION_LOCK_MS):
        if await _read(redis, key) >= version:
            return  # another process migrated while we waited
        if time.monotonic() > deadline:
            raise SchemaError(f"schema migration at {prefix!r} holds its lock too long")
        await asyncio.sleep(_WAIT_STEP_S)
    try:
        current = await _read(redis, key)
        for step in range(current + 1, version + 1):
            logger.info("accounts: migrating %r to schema %d", prefix, step)
            await migrations[step](redis, prefix)
            await redis.set(key, str(step))
    finally:
        await redis.delete(lock)
    logger.info("accounts: %r migrated from schema %d to %d", prefix, found, version)


async def _read(redis: aioredis.Redis, key: str) -> int:
    raw = await redis.get(key)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise SchemaError(f"{key} holds {raw!r}, not a schema version") from None
