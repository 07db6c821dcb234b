"""Request traces in Redis, one capped stream that every replica writes and the admin
UI reads, so one listing shows the answers of all of them.

The request path only appends to a bounded buffer in memory (`record`: no await, no
I/O). A background task writes the buffer every `flush_interval_s` as one script call,
which numbers the batch after the stream's newest entry and trims the stream to
`capacity`: ids are consecutive whole numbers across replicas (the URLs'
`/admin/traces/{n}`), in the order Redis received them. While Redis is slow or away the
buffer holds the last `capacity` traces; older ones are dropped and counted
(`atlas_traces_dropped_total`), and no request waits or fails for it.

Text capture is one flag in Redis for every replica, each reading it at every flush
(within `flush_interval_s`); it turns itself off after `CAPTURE_TTL_S`, so a forgotten
capture does not run for ever.

Key                  Type    Value
{p}traces            stream  entry `{n}-0`: field `t`, a Trace (JSON, its id left 0)
{p}traces:capture    string  "1" while text capture is on (expires)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Self, cast

import msgspec
import redis.asyncio as aioredis
import redis.exceptions

from gateway.flushing import PeriodicFlush
from gateway.telemetry.traces import DEFAULT_CAPACITY, Trace

logger = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL_S = 0.5
FLUSH_TIMEOUT_S = 2.0
BATCH = 200  # traces per script call
PAGE = 200  # entries per XREVRANGE while filtering
CAPTURE_TTL_S = 3600
CLOSE_ATTEMPTS = 3
CLOSE_PAUSE_S = 0.3
# A flush that meets one of these keeps its batch (TimeoutError is an OSError).
FLUSH_ERRORS = (redis.exceptions.RedisError, OSError)

# KEYS[1] the stream, KEYS[2] the capture flag; ARGV[1] the capacity, ARGV[2..] traces.
# Returns the capture flag (or false). Ids follow the newest entry, so they stay unique
# and increasing whichever replica writes; trimming keeps the newest, so the top stays.
APPEND = """
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local n = 0
if top then n = tonumber(string.match(top[1], '^(%d+)')) end
for i = 2, #ARGV do
  n = n + 1
  redis.call('XADD', KEYS[1], n .. '-0', 't', ARGV[i])
end
if #ARGV > 1 then redis.call('XTRIM', KEYS[1], 'MAXLEN', tonumber(ARGV[1])) end
return redis.call('GET', KEYS[2])
"""

_DECODE = msgspec.json.Decoder(Trace)
_ENCODE = msgspec.json.Encoder()
Entry = tuple[bytes, dict[bytes, bytes]]


def traces_key(prefix: str) -> str:
    return f"{prefix}traces"


def capture_key(prefix: str) -> str:
    return f"{prefix}traces:capture"


class TraceStore:
    """`async with` runs the flusher and writes what is left at the end. Reading
    (`recent`, `get`, `held`) needs no flusher: tests read with a client of their own."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        *,
        capacity: int = DEFAULT_CAPACITY,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        on_drop: Callable[[int], object] | None = None,  # traces dropped
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._stream = traces_key(prefix)
        self._capture = capture_key(prefix)
        self.capacity = capacity
        self._on_drop = on_drop
        self._buffer: deque[Trace] = deque(maxlen=capacity)
        self._append = redis.register_script(APPEND)
        self._lock = asyncio.Lock()
        self._flusher = PeriodicFlush(
            self.flush,
            flush_interval_s,
            name="traces-flush",
            close_attempts=CLOSE_ATTEMPTS,
            close_pause_s=CLOSE_PAUSE_S,
        )
        self._failing = False
        self.capture_text = False  # as last read from Redis

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def record(self, trace: Trace) -> None:
        """On the request path: one append; the oldest buffered trace goes when full."""
        if len(self._buffer) == self.capacity and self._on_drop is not None:
            self._on_drop(1)
        self._buffer.append(trace)

    async def flush(self) -> bool:
        """Write the buffer and read the capture flag; False when Redis failed (the
        traces stay buffered, behind any recorded meanwhile, within the bound)."""
        async with self._lock:
            while True:
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
                try:
                    async with asyncio.timeout(FLUSH_TIMEOUT_S):
                        flag = await self._append(
                            keys=[self._stream, self._capture],
                            args=[self.capacity, *(_ENCODE.encode(t) for t in batch)],
                        )
                except FLUSH_ERRORS as exc:
                    self._restore(batch)
                    if not self._failing:
                        logger.warning("traces: flush failed, %d buffered: %s", self.pending, exc)
                    self._failing = True
                    return False
                except BaseException:
                    self._restore(batch)
                    raise
                if self._failing:
                    logger.info("traces: flushing again")
                self._failing = False
                self.capture_text = flag == b"1"
                if not self._buffer:
                    return True

    def _restore(self, batch: list[Trace]) -> None:
        room = self.capacity - len(self._buffer)
        kept = batch[-room:] if room > 0 else []
        if self._on_drop is not None and len(kept) < len(batch):
            self._on_drop(len(batch) - len(kept))
        self._buffer.extendleft(reversed(kept))

    async def set_capture(self, on: bool) -> None:
        if on:
            await self._redis.set(self._capture, b"1", ex=CAPTURE_TTL_S)
        else:
            await self._redis.delete(self._capture)
        self.capture_text = on

    async def capturing(self) -> bool:
        """The flag as Redis has it now (what every replica reads at its next flush)."""
        return await cast("Awaitable[bytes | None]", self._redis.get(self._capture)) == b"1"

    async def held(self) -> int:
        return await cast("Awaitable[int]", self._redis.xlen(self._stream))

    async def get(self, trace_id: int) -> Trace | None:
        entry_id = f"{trace_id}-0"
        entries = await _entries(self._redis.xrange(self._stream, entry_id, entry_id))
        return _trace(entries[0]) if entries else None

    async def recent(self, limit: int, keep: Callable[[Trace], bool] | None = None) -> list[Trace]:
        """Up to `limit` traces of every replica, newest first, those `keep` accepts."""
        found: list[Trace] = []
        end = "+"
        while len(found) < limit:
            count = limit if keep is None else max(PAGE, limit)
            page = await _entries(self._redis.xrevrange(self._stream, end, "-", count=count))
            for entry in page:
                trace = _trace(entry)
                if keep is None or keep(trace):
                    found.append(trace)
                    if len(found) >= limit:
                        break
            if len(page) < count or trace.id <= 1:
                break
            end = f"{trace.id - 1}-0"
        return found

    async def __aenter__(self) -> Self:
        if not self._flusher.running:
            with contextlib.suppress(*FLUSH_ERRORS):
                async with asyncio.timeout(FLUSH_TIMEOUT_S):
                    self.capture_text = await self.capturing()
            self._flusher.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the flusher and write what is left, retrying a blip briefly."""
        if await self._flusher.close():
            return
        logger.error("traces: %d not written at shutdown", self.pending)


async def _entries(reply: Awaitable[object]) -> list[Entry]:
    return cast("list[Entry]", await reply)


def _trace(entry: Entry) -> Trace:
    entry_id, fields = entry
    trace = _DECODE.decode(fields[b"t"])
    return msgspec.structs.replace(trace, id=int(entry_id.split(b"-", 1)[0]))
