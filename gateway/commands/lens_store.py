"""The Redis client `atlas lens train|status` work on: the gateway's store by default.

lens/ may not import the gateway, so its commands take the client from here:
`--redis-url` when given (an explicit override), else `open_store(..., role="command")`
on the `--config` file's [redis], the embedded store included.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from config import load_settings
from gateway.wiring.redis_store import open_store
from lens.cli import url_client


@asynccontextmanager
async def open_lens_redis(args: argparse.Namespace) -> AsyncIterator[aioredis.Redis]:
    if args.redis_url is not None:
        async with url_client(args) as client:
            yield client
        return
    settings = load_settings(args.config)  # ConfigError: the caller's exit code 2
    async with open_store(settings.redis, role="command") as store:
        yield store.redis
