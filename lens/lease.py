"""One Lens trainer at a time across replicas: a Redis lease with expiry and a fencing token.

Acquire: SET PREFIXtrain:lease HOLDER NX PX ttl, and on success INCR
PREFIXtrain:fence, in one script: every acquisition gets a fencing token larger than
any before it. HOLDER is new for each acquisition (host, pid and a random part: in a
container every replica may be pid 1), so only this acquisition can renew or release.
While a cycle trains, `hold()` renews the lease every ttl/3 (compare-and-pexpire); a
renewal that finds the key gone or someone else's sets `Keeper.lost`, and the cycle is
abandoned. Release is compare-and-delete. A holder killed with SIGKILL releases nothing:
its lease expires after ttl and the next replica to try takes it.

The lease alone cannot stop a holder that paused (a long GC, a frozen VM) past its ttl
from finishing its cycle; the fencing token does: publication (lens/published.py)
accepts only a token newer than the last one published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Held:
    holder: str  # the lease key's value: this acquisition's own
    token: int  # the fencing token


@dataclass
class Keeper:
    """A held lease while `hold()` renews it; `lost` is set (from the loop, read by the
    training thread) once a renewal fails or the lease's ttl passed unconfirmed."""

    held: Held
    lost: threading.Event = field(default_factory=threading.Event)


class TrainingLease:
    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: float) -> None:
        self.key = prefix + "train:lease"
        self.fence_key = prefix + "train:fence"
        self.ttl_s = ttl_s
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._redis = client
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    async def acquire(self) -> Held | None:
        """The lease and a new fencing token, or None while another holds it."""
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        token = int(
            await self._acquire(keys=[self.key, self.fence_key], args=[holder, self._ttl_ms])
        )
        return Held(holder=holder, token=token) if token else None

    async def renew(self, held: Held) -> bool:
        """Extend the lease by ttl; False when it is no longer this acquisition's."""
        return bool(await self._renew(keys=[self.key], args=[held.holder, self._ttl_ms]))

    async def release(self, held: Held) -> bool:
        return bool(await self._release(keys=[self.key], args=[held.holder]))

    async def holder(self) -> str | None:
        """Who holds the lease now (host:pid:random), for status and tests."""
        raw = await self._redis.get(self.key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[Keeper | None]:
        """The lease, renewed until the block ends and then released; None if taken."""
        held = await self.acquire()
        if held is None:
            yield None
            return
        keeper = Keeper(held)
        renewer = asyncio.create_task(self._keep(keeper), name="lens-lease")
        try:
            yield keeper
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self._release_quietly(held)

    async def _keep(self, keeper: Keeper) -> None:
        confirmed = time.monotonic()
        while not keeper.lost.is_set():
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if await self.renew(keeper.held):
                    confirmed = time.monotonic()
                    continue
                logger.warning("lens: training lease lost (token %d)", keeper.held.token)
                keeper.lost.set()
            except RedisError as exc:  # a blip: retry until the ttl is over
                if time.monotonic() - confirmed >= self.ttl_s:
                    logger.warning("lens: training lease unconfirmed for its ttl: %s", exc)
                    keeper.lost.set()

    async def _release_quietly(self, held: Held) -> None:
        try:
            await self.release(held)
        except RedisError as exc:  # it expires by itself after ttl
            logger.warning("lens: could not release the training lease: %s", exc)
