"""A background flush every interval, and a last one at close that retries a blip:
what the usage recorder and the trace store both do with their in-memory buffers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class PeriodicFlush:
    """Calls `flush` every `interval_s` until closed; `flush` returns False when the
    store failed (its data is kept for the next call)."""

    def __init__(
        self,
        flush: Callable[[], Awaitable[bool]],
        interval_s: float,
        *,
        name: str,
        close_attempts: int,
        close_pause_s: float,
    ) -> None:
        self._flush = flush
        self._interval_s = interval_s
        self._name = name
        self._close_attempts = close_attempts
        self._close_pause_s = close_pause_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._forever(), name=self._name)

    async def _forever(self) -> None:
        while not self._stop.is_set():
            # Wakes early on close(); a flush in progress is never cancelled midway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval_s)
            if not self._stop.is_set():
                await self._flush()

    async def close(self) -> bool:
        """Stop the loop and flush what is left; False when every attempt failed."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        for attempt in range(self._close_attempts):
            if await self._flush():
                return True
            if attempt + 1 < self._close_attempts:
                await asyncio.sleep(self._close_pause_s)
        return False
