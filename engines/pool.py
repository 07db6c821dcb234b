"""Upstream groups: health state, in-flight accounting and least-outstanding picking."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engines.errors import CapacityExceededError, UpstreamUnavailableError


@dataclass(slots=True, eq=False)
class Upstream:
    """One upstream server. The pool that owns it is the only writer of its state."""

    url: str
    weight: float = 1.0
    max_in_flight: int = 64
    # How metrics name it: the URL, or the managed engine serving it (whose URL moves).
    name: str = ""
    in_flight: int = 0
    # None until the first health check or request says otherwise.
    healthy: bool | None = None
    last_error: str | None = None
    changed_at: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        return self.name or self.url

    def load(self) -> float:
        return self.in_flight / self.weight

    def has_capacity(self) -> bool:
        return self.in_flight < self.max_in_flight


class UpstreamPool:
    """The upstreams serving one model in one role (generation or embedding), with a
    bounded wait for a free slot."""

    def __init__(
        self,
        model: str,
        upstreams: Sequence[Upstream],
        *,
        role: str = "generation",
        queue_timeout_s: float = 30.0,
        max_queue: int = 256,
    ) -> None:
        self.model = model
        self.role = role
        self.upstreams = tuple(upstreams)
        self._queue_timeout_s = queue_timeout_s
        self._max_queue = max_queue
        self._waiters: deque[asyncio.Future[None]] = deque()

    def usable(self, exclude: Iterable[Upstream] = ()) -> list[Upstream]:
        skip = set(map(id, exclude))
        return [u for u in self.upstreams if u.healthy is not False and id(u) not in skip]

    def healthy_count(self) -> int:
        return sum(1 for u in self.upstreams if u.healthy is True)

    def try_acquire(self, exclude: Iterable[Upstream] = ()) -> Upstream | None:
        best: Upstream | None = None
        for upstream in self.usable(exclude):
            if upstream.has_capacity() and (best is None or upstream.load() < best.load()):
                best = upstream
        if best is not None:
            best.in_flight += 1
        return best

    async def acquire(self, exclude: Sequence[Upstream] = ()) -> Upstream:
        """Take a slot on the least loaded usable upstream, waiting if all are busy."""
        upstream = self.try_acquire(exclude)
        if upstream is not None:
            return upstream
        if not self.usable(exclude):
            raise UpstreamUnavailableError(self._unavailable_reason())
        if len(self._waiters) >= self._max_queue:
            raise CapacityExceededError(
                f"model {self.model!r} is at capacity and its queue is full", retry_after_s=1
            )
        return await self._wait_for_slot(exclude)

    async def _wait_for_slot(self, exclude: Sequence[Upstream]) -> Upstream:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._queue_timeout_s
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise CapacityExceededError(
                    f"model {self.model!r} had no free upstream slot for "
                    f"{self._queue_timeout_s:g} s",
                    retry_after_s=max(1, round(self._queue_timeout_s / 4)),
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            upstream = self.try_acquire(exclude)
            if upstream is not None:
                return upstream
            if not self.usable(exclude):
                raise UpstreamUnavailableError(self._unavailable_reason())

    def release(self, upstream: Upstream) -> None:
        upstream.in_flight -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def mark(self, upstream: Upstream, healthy: bool, error: str | None = None) -> None:
        if upstream.healthy != healthy:
            upstream.changed_at = time.monotonic()
        upstream.healthy = healthy
        upstream.last_error = error
        if healthy:
            self._wake_one()

    def _unavailable_reason(self) -> str:
        details = "; ".join(f"{u.url}: {u.last_error or 'unhealthy'}" for u in self.upstreams)
        return f"no healthy upstream for model {self.model!r} ({details})"
