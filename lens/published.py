"""The checkpoint the replicas serve, published in Redis and fenced by the lease's token.

Where checkpoints live: the published one is stored in Redis itself, one hash
PREFIXcheckpoint {version, token, data}, next to the examples it was trained on; each
replica also keeps its own copies in `[lens] checkpoint_dir` (its history and its start).
Why Redis and not a shared volume: a checkpoint is small (d=896 -> 512 -> 128 -> 1 is
525k parameters, 2.1 MB; 3.0 MB with the metric G), only the newest is kept there, and
the fence check and the publication are one script, so a stale holder can never
publish over a newer one. A file on a shared volume cannot be fenced that way (the
check and the rename are two steps, and a paused writer renames after the check), and
it needs a ReadWriteMany volume that many clusters do not offer. Redis is already the
one store every replica must reach, and its append-only file persists the checkpoint.

How the others learn of it: each polls the version field (one HGET of a few bytes)
every `[lens] poll_interval_s` and fetches the data only when it changed. Polling
rather than pub/sub: a replica that was disconnected or starting when a message went
out would never hear of that checkpoint, and a subscriber needs a connection of its own
outside the process's shared client; a poll every few seconds costs nothing and
always converges on the newest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import cast

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

# KEYS[1] the hash; ARGV token, floor (the publisher's own newest version), data.
# Returns the new version, or 0 when a token as new or newer was already published.
PUBLISH = """
local token = tonumber(ARGV[1])
if token <= tonumber(redis.call('HGET', KEYS[1], 'token') or '0') then
  return 0
end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local version = math.max(current, tonumber(ARGV[2])) + 1
redis.call('HSET', KEYS[1], 'token', token, 'version', version, 'data', ARGV[3])
return version
"""


class PublishedCheckpoints:
    def __init__(self, client: aioredis.Redis, *, prefix: str) -> None:
        self.key = prefix + "checkpoint"
        self._redis = client
        self._publish = client.register_script(PUBLISH)

    async def publish(self, token: int, data: bytes, *, floor: int = 0) -> int | None:
        """Publish `data` under fencing `token`: its version (above `floor` and every
        published one), or None when a newer holder's token was published first."""
        version = int(await self._publish(keys=[self.key], args=[token, floor, data]))
        if not version:
            logger.warning("lens: checkpoint of token %d fenced off by a newer one", token)
            return None
        logger.info("lens: published checkpoint v%d (token %d)", version, token)
        return version

    async def version(self) -> int | None:
        """The published version, or None before the first publication."""
        raw = await cast("Awaitable[bytes | None]", self._redis.hget(self.key, "version"))
        return None if raw is None else int(raw)

    async def fetch(self) -> tuple[int, bytes] | None:
        """The published version and its checkpoint bytes (lens/checkpoint.py `decode`)."""
        reply = self._redis.hmget(self.key, ["version", "data"])
        version, data = await cast("Awaitable[list[bytes | None]]", reply)
        if version is None or data is None:
            return None
        return int(version), bytes(data)
