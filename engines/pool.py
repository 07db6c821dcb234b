"""Upstream groups: health state, in-flight accounting and least-outstanding picking,
with a fair queue (engines/scheduler.py) for requests that find every slot taken."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engines.errors import CapacityExceededError, QueueFullError, UpstreamUnavailableError
from engines.scheduler import (
    ANONYMOUS,
    FOLLOW_UPS,
    Asker,
    FairQueue,
    KeyShare,
    Priority,
    Waiter,
)

# The gateway's own requests (a search's candidates, tests, repairs) wait this long for
# a slot: the search they belong to was admitted, so they wait their turn rather than
# fail; the client leaving or the search's deadline cancels them sooner.
DEFAULT_INTERNAL_QUEUE_TIMEOUT_S = 900.0
MAX_KEYS_KEPT = 4096  # keys whose last slot the pool remembers, for the fair order


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
    bounded, fair wait for a free slot."""

    def __init__(
        self,
        model: str,
        upstreams: Sequence[Upstream],
        *,
        role: str = "generation",
        queue_timeout_s: float = 30.0,
        max_queue: int = 256,
        max_queue_per_key: int | None = None,
        internal_queue_timeout_s: float = DEFAULT_INTERNAL_QUEUE_TIMEOUT_S,
    ) -> None:
        self.model = model
        self.role = role
        self.upstreams = tuple(upstreams)
        # Members come and go with a DNS source (engines/discovery.py): none now is not
        # none configured.
        self.discovered = False
        self._queue_timeout_s = queue_timeout_s
        self._internal_queue_timeout_s = max(queue_timeout_s, internal_queue_timeout_s)
        self._max_queue = max_queue
        self._max_queue_per_key = max_queue if max_queue_per_key is None else max_queue_per_key
        self._queue = FairQueue()
        # Per key: slots held and when it was last given one, the queue's fair order.
        self._keys: dict[str, KeyShare] = {}
        self._stamps = itertools.count()

    @property
    def queued(self) -> int:
        return self._queue.size

    def usable(self, exclude: Iterable[Upstream] = ()) -> list[Upstream]:
        skip = set(map(id, exclude))
        return [u for u in self.upstreams if u.healthy is not False and id(u) not in skip]

    def healthy_count(self) -> int:
        return sum(1 for u in self.upstreams if u.healthy is True)

    def free_slots(self) -> int:
        """Slots a new request would get now: none while others wait for one."""
        if self._queue.size:
            return 0
        return sum(max(0, u.max_in_flight - u.in_flight) for u in self.usable())

    def try_acquire(self, exclude: Iterable[Upstream] = ()) -> Upstream | None:
        best: Upstream | None = None
        for upstream in self.usable(exclude):
            if upstream.has_capacity() and (best is None or upstream.load() < best.load()):
                best = upstream
        if best is not None:
            best.in_flight += 1
        return best

    async def acquire(self, exclude: Sequence[Upstream] = (), asker: Asker = ANONYMOUS) -> Upstream:
        """Take a slot on the least loaded usable upstream, waiting in the fair queue if
        all are busy or others already wait."""
        if not self._queue.size:
            upstream = self.try_acquire(exclude)
            if upstream is not None:
                self._given(asker.key)
                return upstream
        if not self.usable(exclude):
            raise UpstreamUnavailableError(self._unavailable_reason())
        self._check_room(asker)
        return await self._wait_for_slot(exclude, asker)

    def _check_room(self, asker: Asker) -> None:
        if asker.priority in FOLLOW_UPS:
            return
        if self._queue.size >= self._max_queue:
            raise QueueFullError(
                f"model {self.model!r} is at capacity and its queue is full", retry_after_s=1
            )
        if self._queue.waiting(asker.key) >= self._max_queue_per_key:
            raise QueueFullError(
                f"model {self.model!r}: this key already has "
                f"{self._max_queue_per_key} requests waiting for a slot",
                retry_after_s=self._retry_after_s(),
            )

    def _retry_after_s(self) -> int:
        return max(1, round(self._queue_timeout_s / 4))

    async def _wait_for_slot(self, exclude: Sequence[Upstream], asker: Asker) -> Upstream:
        waiter = self._queue.add(asker, exclude)
        self._hand_out()  # a slot may be free for this waiter but not for those before it
        timeout_s = (
            self._queue_timeout_s
            if asker.priority == Priority.PASS_THROUGH
            else self._internal_queue_timeout_s
        )
        granted = False
        try:
            async with asyncio.timeout(timeout_s):
                upstream = await waiter.future
            granted = True
            return upstream
        except TimeoutError:
            raise CapacityExceededError(
                f"model {self.model!r} had no free upstream slot for {timeout_s:g} s",
                retry_after_s=self._retry_after_s(),
            ) from None
        finally:
            if not granted:
                self._abandon(waiter)

    def _abandon(self, waiter: Waiter) -> None:
        """A waiter that gives up leaves the queue; a slot handed to it just as it was
        cancelled goes on to the next one."""
        future = waiter.future
        if not future.done() or future.cancelled():
            self._queue.discard(waiter)
            future.cancel()
        elif future.exception() is None:
            self.release(future.result(), waiter.key)

    def release(self, upstream: Upstream, key: str = ANONYMOUS.key) -> None:
        """Give back a slot `acquire` gave `key`; the next waiter in fair order gets it."""
        upstream.in_flight -= 1
        share = self._keys.get(key)
        if share is not None and share.held:
            share.held -= 1
        if self._queue.size:
            self._hand_out()

    def _given(self, key: str) -> None:
        share = self._keys.get(key)
        if share is None:
            if len(self._keys) >= MAX_KEYS_KEPT:
                self._forget_idle_keys()
            share = self._keys[key] = KeyShare()
        share.held += 1
        share.stamp = next(self._stamps)

    def _forget_idle_keys(self) -> None:
        """Keys holding no slot now rank as if never served: a little less fair to them,
        and the table stays bounded however many keys come and go."""
        self._keys = {key: share for key, share in self._keys.items() if share.held > 0}

    def _hand_out(self) -> None:
        while self._queue.size:
            waiter = self._queue.grant(self.try_acquire, self._keys)
            if waiter is None:
                return
            self._given(waiter.key)

    def add(self, upstreams: Sequence[Upstream]) -> None:
        """New members (discovered ones); waiters get their slots if they are usable."""
        known = set(map(id, self.upstreams))
        self.upstreams = (*self.upstreams, *(u for u in upstreams if id(u) not in known))
        self._hand_out()

    def retire(self, upstreams: Sequence[Upstream]) -> None:
        """Members that leave: they get no new request, and the requests they run go on
        (their holders release them as ever); waiters left with nothing fail now."""
        gone = set(map(id, upstreams))
        self.upstreams = tuple(u for u in self.upstreams if id(u) not in gone)
        self._fail_stranded()

    def mark(self, upstream: Upstream, healthy: bool, error: str | None = None) -> None:
        if upstream.healthy != healthy:
            upstream.changed_at = time.monotonic()
        upstream.healthy = healthy
        upstream.last_error = error
        if healthy:
            self._hand_out()
        else:
            self._fail_stranded()

    def _fail_stranded(self) -> None:
        """Waiters left with no usable upstream fail now rather than at their timeout."""
        for waiter in list(self._queue):
            if waiter.future.done():  # cancelled, its task not yet back to say so
                self._queue.discard(waiter)
            elif not self.usable(waiter.exclude):
                self._queue.discard(waiter)
                waiter.future.set_exception(UpstreamUnavailableError(self._unavailable_reason()))

    def _unavailable_reason(self) -> str:
        if not self.upstreams:
            return f"model {self.model!r} has no {self.role} upstream now"
        details = "; ".join(f"{u.url}: {u.last_error or 'unhealthy'}" for u in self.upstreams)
        return f"no healthy upstream for model {self.model!r} ({details})"
