"""The shutdown clock: SIGTERM begins a drain, and `grace_s` later it expires.

On SIGTERM uvicorn stops accepting connections and waits for the answers in flight
(`serving.DrainingServer` begins the drain as it does). Answers that finish within
the grace period go out whole. At expiry every answer still running is cut here, not
by uvicorn: the task that registered itself is cancelled, and its handler turns that
into a proper end (a 503 `shutting_down` before any byte, an error event and
`data: [DONE]` in a stream). uvicorn's own deadline comes `END_MARGIN_S` later, for
those last bytes to go out, then the lifespan closes the services (managed engines).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from config.settings import DEFAULT_SHUTDOWN_GRACE_S

logger = logging.getLogger(__name__)

# Between the drain's expiry and uvicorn cancelling whatever is left.
END_MARGIN_S = 1.0


class DrainExpiredError(Exception):
    """An answer cut because the shutdown grace period ran out."""


class Drain:
    __slots__ = ("_cut", "_expired", "_handle", "_tasks", "grace_s")

    def __init__(self, grace_s: float = DEFAULT_SHUTDOWN_GRACE_S) -> None:
        self.grace_s = grace_s
        self._tasks: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    @property
    def draining(self) -> bool:
        return self._handle is not None or self._expired

    @property
    def expired(self) -> bool:
        return self._expired

    def begin(self) -> None:
        """Start the grace period (once); called from the server's shutdown."""
        if self.draining:
            return
        logger.info(
            "draining: %d answer(s) in flight, %g s to finish", len(self._tasks), self.grace_s
        )
        self._handle = asyncio.get_running_loop().call_later(self.grace_s, self.expire)

    def expire(self) -> None:
        self._expired = True
        if self._tasks:
            logger.warning("shutdown grace over: cutting %d answer(s)", len(self._tasks))
        for task in list(self._tasks):
            self._cut.add(task)
            task.cancel(msg="shutdown grace period over")

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """Run the body in the current task, cut at expiry: it then raises
        DrainExpiredError instead of the cancellation."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under ASGI
            yield
            return
        if self._expired:
            raise DrainExpiredError("the gateway is shutting down")
        self._tasks.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._cut:
                raise
            task.uncancel()
            raise DrainExpiredError("the gateway is shutting down") from None
        finally:
            self._tasks.discard(task)
            self._cut.discard(task)


__all__ = ["DEFAULT_SHUTDOWN_GRACE_S", "END_MARGIN_S", "Drain", "DrainExpiredError"]
