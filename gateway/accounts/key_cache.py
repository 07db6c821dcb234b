"""An in-process cache of authenticated keys, dropped at once when any key changes.

A revocation or update publishes on `{p}api-keys:changed` in the same MULTI as the
change; every process listening clears its cache. The cache serves only while its
subscription is up, so a replica that cannot hear revocations asks Redis every time.
A generation counter stops a lookup that raced a change from caching the old record.
Entries also expire after `ttl_s`, and the cache holds at most `max_entries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Self

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.accounts.redis_ops import close_pubsub
from gateway.accounts.schema import ApiKey, api_keys_channel

logger = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 10_000
_RECONNECT_S = 1.0
_POLL_S = 1.0


class KeyCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        ttl_s: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._channel = api_keys_channel(prefix)
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[ApiKey, float]] = {}
        self._generation = 0
        self._live = False  # subscribed: invalidations reach us
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def generation(self) -> int:
        return self._generation

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self, *, wait_s: float = 5.0) -> None:
        """Start listening; returns once subscribed (or after `wait_s`, uncached till then)."""
        self._task = asyncio.create_task(self._listen(), name="accounts-key-cache")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.clear()

    def get(self, digest: str) -> ApiKey | None:
        if not self._live:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self._clock() - entry[1] >= self._ttl_s:
            del self._entries[digest]
            return None
        return entry[0]

    def put(self, digest: str, record: ApiKey, generation: int) -> None:
        """Cache a record read while `generation` was current; a stale one is dropped."""
        if not self._live or generation != self._generation or self._ttl_s <= 0:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # rare; refilled by the next lookups
        self._entries[digest] = (record, self._clock())

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is None:
                        continue
                    self.clear()  # a change, or (re)subscribed: nothing cached is trusted
                    if message["type"] == "subscribe":
                        self._live = True
                        self._ready.set()
            except (RedisError, OSError) as exc:
                logger.warning("accounts: key cache lost its subscription (%s); retrying", exc)
            finally:
                self._live = False
                self.clear()
                with contextlib.suppress(RedisError):
                    await close_pubsub(pubsub)
            await asyncio.sleep(_RECONNECT_S)
