"""The bandit's counts in Redis (`RouteStats`): one hash per model and difficulty bin,
added to atomically, so every replica draws from the same posteriors. A Redis failure
is logged and costs the bandit one observation or one informed draw, never a request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.strategies.router.bandit import ARMS, Posterior, Route
from gateway.telemetry.metrics import RouterMetrics
from gateway.wiring.routing_schema import router_key

logger = logging.getLogger(__name__)
__all__ = ["ARMS", "Posterior", "RedisRouteStats"]


class RedisRouteStats:
    def __init__(self, redis: aioredis.Redis, prefix: str, metrics: RouterMetrics) -> None:
        self._redis = redis
        self._prefix = prefix
        self._metrics = metrics

    async def posteriors(self, model: str, bin_: int) -> dict[Route, Posterior]:
        try:
            raw = await cast(
                "Awaitable[dict[bytes, bytes]]",
                self._redis.hgetall(router_key(self._prefix, model, bin_)),
            )
        except RedisError as exc:
            logger.warning("router: posteriors of %s bin %d not read: %s", model, bin_, exc)
            return {}
        posteriors = _parse(raw)
        self._show(model, bin_, posteriors)
        return posteriors

    async def record(
        self, model: str, bin_: int, route: Route, *, passed: bool, tokens: int
    ) -> None:
        key = router_key(self._prefix, model, bin_)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, f"{route}:{'passes' if passed else 'failures'}", 1)
                pipe.hincrbyfloat(key, f"{route}:tokens", float(tokens))
                await pipe.execute()
        except RedisError as exc:
            logger.warning("router: outcome of %s bin %d not recorded: %s", model, bin_, exc)

    async def snapshot(
        self, models: Iterable[tuple[str, int]]
    ) -> dict[str, list[dict[Route, Posterior]]]:
        """Every bin of each (model, bins): for the admin API and /metrics (one round trip)."""
        wanted = [(model, b) for model, bins in models for b in range(bins)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for model, b in wanted:
                pipe.hgetall(router_key(self._prefix, model, b))
            replies = await pipe.execute()
        out: dict[str, list[dict[Route, Posterior]]] = {}
        for (model, b), raw in zip(wanted, replies, strict=True):
            posteriors = _parse(raw)
            self._show(model, b, posteriors)
            out.setdefault(model, []).append(posteriors)
        return out

    def _show(self, model: str, bin_: int, posteriors: dict[Route, Posterior]) -> None:
        for route in ARMS:
            post = posteriors.get(route, Posterior())
            self._metrics.posterior.labels(model, str(bin_), route, "alpha").set(post.alpha)
            self._metrics.posterior.labels(model, str(bin_), route, "beta").set(post.beta)


def _parse(raw: dict[bytes, bytes]) -> dict[Route, Posterior]:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    out: dict[Route, Posterior] = {}
    for route in ARMS:
        if not any(f.startswith(f"{route}:") for f in fields):
            continue
        out[route] = Posterior(
            passes=int(fields.get(f"{route}:passes", "0")),
            failures=int(fields.get(f"{route}:failures", "0")),
            tokens=float(fields.get(f"{route}:tokens", "0")),
        )
    return out
