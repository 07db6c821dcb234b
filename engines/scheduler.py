"""Who waits for an upstream slot, and who gets the next one that frees.

One `FairQueue` per upstream pool (one model, one role) orders the requests that found
every slot taken. A freed slot is handed straight to the waiter chosen here, never left
for whoever asks next, so a newcomer cannot jump the queue:

- between API keys, the key holding the fewest slots now goes first (ties: the key
  given a slot least recently), so one key's k=20 search cannot hold back another key's
  request for longer than the next slot to free;
- within a key, by `Priority` (a pass-through request first, then the gateway's own
  test-writing, repair and candidate requests), then in arrival order.

docs/scheduling.md says why in that order. The queue knows nothing of HTTP: a full queue
is a `QueueFullError`, which the gateway's error table answers with 429 and Retry-After.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from engines.pool import Upstream


class Priority(IntEnum):
    """Lower goes first within one key's turn."""

    PASS_THROUGH = 0  # a client waits on this one request
    TESTS = 1  # a search's test-writing request: its selection waits on it
    REPAIR = 2  # a search's repair of a failing candidate
    CANDIDATE = 3  # one more candidate of a search: the most optional work


# What a search asks for may not be refused by a full queue: the search was admitted and
# waits on it (refusing would waste the candidates it already has).
FOLLOW_UPS = frozenset({Priority.TESTS, Priority.REPAIR})


class Asker(NamedTuple):
    """Who asks for a slot: the API key (`Call.key_id`) and what the request is for.
    A tuple: built for every request, in about half the time of a frozen dataclass."""

    key: str = "anonymous"
    priority: Priority = Priority.PASS_THROUGH


ANONYMOUS = Asker()


@dataclass(slots=True)
class KeyShare:
    """One key's use of a pool: slots held now, and when it was last given one."""

    held: int = 0
    stamp: int = -1

    def rank(self) -> tuple[int, int]:
        return (self.held, self.stamp)


_NEVER = KeyShare()


@dataclass(order=True, slots=True)
class Waiter:
    priority: int
    seq: int
    exclude: Sequence[Upstream] = field(compare=False)
    future: asyncio.Future[Upstream] = field(compare=False)
    key: str = field(compare=False)


class FairQueue:
    """Waiters per key, each key's a heap by (priority, arrival)."""

    def __init__(self) -> None:
        self._keys: dict[str, list[Waiter]] = {}
        self._seq = itertools.count()
        self.size = 0

    def waiting(self, key: str) -> int:
        return len(self._keys.get(key, ()))

    def add(self, asker: Asker, exclude: Sequence[Upstream]) -> Waiter:
        future: asyncio.Future[Upstream] = asyncio.get_running_loop().create_future()
        waiter = Waiter(int(asker.priority), next(self._seq), exclude, future, asker.key)
        heapq.heappush(self._keys.setdefault(asker.key, []), waiter)
        self.size += 1
        return waiter

    def discard(self, waiter: Waiter) -> None:
        heap = self._keys.get(waiter.key)
        if heap is None or waiter not in heap:
            return
        heap.remove(waiter)
        heapq.heapify(heap)
        self.size -= 1
        if not heap:
            del self._keys[waiter.key]

    def __iter__(self) -> Iterator[Waiter]:
        for heap in self._keys.values():
            yield from heap

    def grant(
        self,
        take: Callable[[Sequence[Upstream]], Upstream | None],
        shares: Mapping[str, KeyShare],
    ) -> Waiter | None:
        """Hand one slot to the first waiter, in fair order, that `take` finds one for;
        None when none could be served. Keys go by their `shares` (fewest slots held,
        then given one least recently); a key missing there holds none, never had one."""
        keys = list(self._keys)  # a copy: serving a key's last waiter removes the key
        if len(keys) > 1:
            keys.sort(key=lambda k: shares.get(k, _NEVER).rank())
        for key in keys:
            # The head of a key's heap is almost always served: a waiter that excludes
            # upstreams (a failover's second try) may let the next of its key go first.
            for waiter in sorted(self._keys[key]):
                if waiter.future.done():  # cancelled, its task not yet back to say so
                    self.discard(waiter)
                    continue
                upstream = take(waiter.exclude)
                if upstream is None:
                    continue
                self.discard(waiter)
                waiter.future.set_result(upstream)
                return waiter
        return None
