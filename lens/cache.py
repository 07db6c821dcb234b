"""Embeddings by content hash: the Embedder protocol and a Redis cache in front of it.

The cache only saves work: when Redis fails, every text is a miss and nothing is kept,
so an embedding is never lost to the cache."""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lens.features import content_hash

logger = logging.getLogger(__name__)

# Above this many characters in one call, hashing goes to a thread.
HASH_OFF_LOOP_CHARS = 256 * 1024
DEFAULT_BATCH = 32


class Embedder(Protocol):
    """What the gateway implements over its embedding engine."""

    @property
    def model_id(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


async def hash_texts(model_id: str, texts: Sequence[str]) -> list[str]:
    if sum(len(t) for t in texts) > HASH_OFF_LOOP_CHARS:
        return await asyncio.to_thread(lambda: [content_hash(model_id, t) for t in texts])
    return [content_hash(model_id, t) for t in texts]


class EmbeddingCache:
    """float32 vectors in Redis under PREFIX + 'emb:' + sha256(model id, text)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "lens:", ttl_s: int | None = 7 * 24 * 3600
    ) -> None:
        self._redis = client
        self._prefix = prefix + "emb:"
        self._ttl = ttl_s

    async def get_many(self, model_id: str, texts: Sequence[str]) -> list[list[float] | None]:
        if not texts:
            return []
        keys = [self._prefix + h for h in await hash_texts(model_id, texts)]
        raw = await self._redis.mget(keys)
        return [None if v is None else array("f", v).tolist() for v in raw]

    async def put_many(
        self, model_id: str, texts: Sequence[str], vectors: Sequence[Sequence[float]]
    ) -> None:
        if len(texts) != len(vectors):
            raise ValueError("texts and vectors differ in length")
        keys = [self._prefix + h for h in await hash_texts(model_id, texts)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, vec in zip(keys, vectors, strict=True):
                pipe.set(key, array("f", vec).tobytes(), ex=self._ttl)
            await pipe.execute()


class CachedEmbedder:
    """An Embedder that asks the cache first and sends only the misses, in batches."""

    def __init__(
        self, inner: Embedder, cache: EmbeddingCache, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._batch = batch_size

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        found = await self._cached(texts)
        missing = list(dict.fromkeys(t for t, v in zip(texts, found, strict=True) if v is None))
        fresh: dict[str, list[float]] = {}
        for start in range(0, len(missing), self._batch):
            chunk = missing[start : start + self._batch]
            vectors = await self._inner.embed(chunk)
            if len(vectors) != len(chunk):
                raise ValueError(f"embedder returned {len(vectors)} vectors for {len(chunk)} texts")
            fresh.update(zip(chunk, vectors, strict=True))
        if fresh:
            await self._keep(fresh)
        logger.debug("lens: %d embeddings, %d from cache", len(texts), len(texts) - len(missing))
        return [v if v is not None else fresh[t] for t, v in zip(texts, found, strict=True)]

    async def _cached(self, texts: Sequence[str]) -> list[list[float] | None]:
        try:
            return await self._cache.get_many(self.model_id, texts)
        except RedisError as exc:
            logger.warning(
                "lens: embedding cache unreadable (%s): all %d are misses", exc, len(texts)
            )
            return [None] * len(texts)

    async def _keep(self, fresh: dict[str, list[float]]) -> None:
        try:
            await self._cache.put_many(self.model_id, list(fresh), list(fresh.values()))
        except RedisError as exc:
            logger.warning("lens: %d embeddings not cached (%s)", len(fresh), exc)
