"""The verified pattern cache in Redis (`PatternCache`), with Ebbinghaus decay.

Each entry has a strength S (seconds) and the time it was last stored or reused; its
retention is R = exp(-(now - last) / S). A successful reuse multiplies S by
`reuse_growth` (spaced repetition). A store sweeps its scope: entries below
`min_retention` are evicted, then the least retained past `capacity`. A lookup of an
entry below the threshold evicts it and misses. Keys: routing_schema.py.

A store is one script (pattern_lua.py): the sweep and the write run atomically in
Redis, so any number of replicas storing into one scope at once leave it at most at
`capacity`, every entry with its meta and sketch. The time is ours (`clock`), passed in.
A Redis failure is logged and is a miss (lookup) or a lost entry (store).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from config import PatternCacheSettings
from gateway.strategies.router.patterns import (
    CacheEntry,
    Features,
    Lookup,
    cosines,
    retention,
    similarity,
)
from gateway.telemetry.metrics import RouterMetrics
from gateway.wiring.pattern_lua import SWEEP_AND_STORE
from gateway.wiring.routing_schema import (
    entry_key,
    entry_prefix,
    meta_key,
    sketch_key,
    vector_key,
)

logger = logging.getLogger(__name__)
# Past this many sketches in a scope, near-match similarity is computed in a thread.
OFF_LOOP_SKETCHES = 32
_ENTRY = msgspec.json.Decoder(CacheEntry)
_META = msgspec.json.Decoder(tuple[float, float])
DEFAULT_CACHE = PatternCacheSettings()


class RedisPatternStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        settings: Mapping[str, PatternCacheSettings],
        metrics: RouterMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        # redis-py sends EVALSHA and, on NOSCRIPT (a restarted or flushed Redis),
        # loads the script and retries once.
        self._sweep_and_store = redis.register_script(SWEEP_AND_STORE)

    def _config(self, model: str) -> PatternCacheSettings:
        return self._settings.get(model, DEFAULT_CACHE)

    async def lookup(
        self, model: str, scope: str, key: str, features: Features, *, exact: bool = True
    ) -> Lookup:
        near = vector_key if features.vector else sketch_key
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                if exact:
                    pipe.get(entry_key(self._prefix, model, scope, key))
                    pipe.hget(meta_key(self._prefix, model, scope), key)
                pipe.hgetall(near(self._prefix, model, scope))
                replies = await pipe.execute()
        except RedisError as exc:
            logger.warning("pattern cache: lookup failed: %s", exc)
            return Lookup(entry=None, similarity=0.0)
        raw, meta, stored = replies if exact else (None, None, replies[0])
        if raw is not None and meta is not None:
            strength, last = _META.decode(meta)
            kept = retention(self._clock() - last, strength)
            self._metrics.cache_retention.labels(model).observe(kept)
            if kept >= self._config(model).min_retention:
                return Lookup(entry=_ENTRY.decode(raw), similarity=1.0, retention=kept)
            await self.evict(model, scope, key, "decay")
        others = {k.decode(): s for k, s in stored.items() if k.decode() != key}
        return await _near_matches(features, others, self._config(model))

    async def entries(self, model: str, scope: str, keys: Sequence[str]) -> list[CacheEntry]:
        if not keys:
            return []
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(entry_key(self._prefix, model, scope, key))
                pipe.hmget(meta_key(self._prefix, model, scope), list(keys))
                *raws, metas = await pipe.execute()
        except RedisError as exc:
            logger.warning("pattern cache: hint entries not read: %s", exc)
            return []
        now, floor = self._clock(), self._config(model).min_retention
        found: list[CacheEntry] = []
        for raw, meta in zip(raws, metas, strict=True):
            if raw is None or meta is None:
                continue  # evicted since the lookup
            strength, last = _META.decode(meta)
            if retention(now - last, strength) >= floor:
                found.append(_ENTRY.decode(raw))
        return found

    async def store(
        self, model: str, scope: str, key: str, features: Features, entry: CacheEntry
    ) -> None:
        config = self._config(model)
        now = self._clock()
        keys = (
            meta_key(self._prefix, model, scope),
            sketch_key(self._prefix, model, scope),
            vector_key(self._prefix, model, scope),
            entry_key(self._prefix, model, scope, key),
        )
        args = (
            repr(now),  # repr: every digit, so Lua reads the same float
            repr(config.min_retention),
            config.capacity,
            entry_prefix(self._prefix, model, scope),
            key,
            msgspec.json.encode(entry),
            msgspec.json.encode((config.initial_strength_s, now)),
            features.sketch,
            features.vector,
        )
        try:
            reply = await self._sweep_and_store(keys=keys, args=args)
        except RedisError as exc:
            logger.warning("pattern cache: store failed: %s", exc)
            return
        for reason in reply[1::2]:  # key, reason, key, reason, ...
            self._metrics.cache_evictions.labels(model, reason.decode()).inc()

    async def reinforce(self, model: str, scope: str, key: str) -> None:
        hash_key = meta_key(self._prefix, model, scope)
        try:
            meta = await cast("Awaitable[bytes | None]", self._redis.hget(hash_key, key))
            if meta is None:
                return
            strength, _ = _META.decode(meta)
            grown = msgspec.json.encode(
                (strength * self._config(model).reuse_growth, self._clock())
            )
            await cast("Awaitable[int]", self._redis.hset(hash_key, mapping={key: grown}))
        except RedisError as exc:
            logger.warning("pattern cache: reuse not recorded: %s", exc)

    async def evict(self, model: str, scope: str, key: str, reason: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                self._delete(pipe, model, scope, key)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("pattern cache: eviction failed: %s", exc)
            return
        self._metrics.cache_evictions.labels(model, reason).inc()

    def _delete(self, pipe: aioredis.client.Pipeline, model: str, scope: str, key: str) -> None:
        pipe.delete(entry_key(self._prefix, model, scope, key))
        pipe.hdel(meta_key(self._prefix, model, scope), key)
        pipe.hdel(sketch_key(self._prefix, model, scope), key)
        pipe.hdel(vector_key(self._prefix, model, scope), key)


def _similarities(features: Features, others: list[bytes]) -> list[float]:
    if features.vector:
        return cosines(features.vector, others)
    return [similarity(features.sketch, o) for o in others]


def _ranked(features: Features, others: dict[str, bytes], config: PatternCacheSettings) -> Lookup:
    """The best similarity over `others` and the most similar keys past the hint floor."""
    keys = list(others)
    values = _similarities(features, list(others.values()))
    best = max(values, default=0.0)
    # The best few only: a full sort of the scope for max_hints keys is wasted work.
    order = heapq.nsmallest(config.max_hints, range(len(keys)), key=lambda i: (-values[i], keys[i]))
    near = tuple(keys[i] for i in order if values[i] >= config.hint_min_similarity)
    return Lookup(entry=None, similarity=best, near=near)


async def _near_matches(
    features: Features, others: dict[str, bytes], config: PatternCacheSettings
) -> Lookup:
    if len(others) <= OFF_LOOP_SKETCHES:
        return _ranked(features, others, config)
    return await asyncio.to_thread(_ranked, features, others, config)
