"""Background health checks of every upstream (llama-server's GET /health)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from engines.errors import EngineError
from engines.pool import Upstream, UpstreamPool
from engines.transport import UpstreamTransport

logger = logging.getLogger(__name__)


class HealthChecker:
    """Polls each pool's upstreams; unhealthy ones are polled more often to return sooner."""

    def __init__(
        self,
        transport: UpstreamTransport,
        pools: Sequence[tuple[UpstreamPool, str]],
        *,
        interval_s: float = 5.0,
        timeout_s: float = 2.0,
    ) -> None:
        self._transport = transport
        self._pools = pools
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    async def check_all(self) -> None:
        for pool, path in self._pools:
            if not path:
                self._readmit(pool)
        await asyncio.gather(
            *(
                self._check(pool, upstream, path)
                for pool, path in self._pools
                if path
                for upstream in pool.upstreams
            )
        )

    async def admit(self, pool: UpstreamPool, upstreams: Sequence[Upstream]) -> None:
        """Check new members of `pool` now (discovered ones join marked down, so they take
        no traffic before this says they are up); without a health path they are up."""
        path = next((p for known, p in self._pools if known is pool), "")
        if not path:
            for upstream in upstreams:
                self._set(pool, upstream, True, None)
            return
        await asyncio.gather(*(self._check(pool, upstream, path) for upstream in upstreams))

    @staticmethod
    def _readmit(pool: UpstreamPool) -> None:
        """Without a health path nothing would ever clear a failure the dispatcher saw
        (one connect timeout), and the model would answer 503 for good: such a mark
        lasts until the next check, then the upstream gets traffic again."""
        for upstream in pool.upstreams:
            if upstream.healthy is False:
                HealthChecker._set(pool, upstream, True, None)

    async def _check(self, pool: UpstreamPool, upstream: Upstream, path: str) -> None:
        try:
            status = await self._transport.get(upstream.url + path, self._timeout_s)
        except EngineError as exc:
            # Named by the low-level failure (ClientConnectorError, TimeoutError) that the
            # transport chained, as /ready has always shown it.
            cause = exc.__cause__ or exc
            self._set(pool, upstream, False, f"health check failed: {type(cause).__name__}")
            return
        if status == 200:
            self._set(pool, upstream, True, None)
        else:
            self._set(pool, upstream, False, f"health check answered {status}")

    @staticmethod
    def _set(pool: UpstreamPool, upstream: Upstream, healthy: bool, error: str | None) -> None:
        if upstream.healthy != healthy:
            logger.info(
                "upstream %s of %s is now %s%s",
                upstream.url,
                pool.model,
                "healthy" if healthy else "unhealthy",
                f" ({error})" if error else "",
            )
        pool.mark(upstream, healthy, error)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="atlas-health-checker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.check_all()
            any_down = any(u.healthy is False for pool, _ in self._pools for u in pool.upstreams)
            await asyncio.sleep(min(1.0, self._interval_s) if any_down else self._interval_s)
