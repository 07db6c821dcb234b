"""The Geometric Lens in the request path: embeddings from the model's embedding
upstream, energies as the best-of-k ranker, its prior failure of a problem as the
router's L, and verified candidates as training data.

Imported only when `[lens] enabled = true`: it brings torch, which a gateway that
does not use the Lens should not pay for at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis

from config import LensSettings
from engines import Dispatcher
from gateway.strategies.base import Lessons
from gateway.strategies.best_of_k.ports import Ranker
from gateway.strategies.model import ModelGroup
from gateway.strategies.router.prior import FailurePredictor
from gateway.wiring.embeddings import UpstreamEmbedder
from lens import (
    CachedEmbedder,
    CheckpointStore,
    EmbeddingCache,
    Example,
    ExampleStore,
    LensService,
    PublishedCheckpoints,
    TrainingLease,
    feature_text,
    make_example,
)

logger = logging.getLogger(__name__)


def problem_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


class ProblemPrior:
    """FailurePredictor over the serving Lens: the problem with an empty candidate, the
    Lens' prior for it (it was trained on problems with candidates)."""

    def __init__(self, service: LensService) -> None:
        self._service = service

    def text(self, problem: str) -> str:
        return feature_text(problem, "")

    async def failure(self, vector: Sequence[float]) -> float:
        (score,) = await self._service.score([vector])  # off the loop, in the Lens' pool
        return 1.0 - score.p_correct


class LensBridge:
    """Owns the LensService; one per gateway process. Its data lives in the process's
    store: `redis` is the shared client (bytes), opened and closed by the store."""

    def __init__(
        self, settings: LensSettings, dispatcher: Dispatcher, redis: aioredis.Redis
    ) -> None:
        self._config = settings
        self._dispatcher = dispatcher
        self._redis = redis
        self._cache = EmbeddingCache(self._redis, prefix=settings.redis_prefix)
        self._examples = ExampleStore(
            self._redis, prefix=settings.redis_prefix, max_examples=settings.store_max_examples
        )
        self.service = LensService(
            settings,
            checkpoints=CheckpointStore(Path(settings.checkpoint_dir), settings.keep_checkpoints),
            store=self._examples,
            # Replicas share the store: one trains at a time, the others load its checkpoint.
            lease=TrainingLease(
                self._redis, prefix=settings.redis_prefix, ttl_s=settings.lease_ttl_s
            ),
            published=PublishedCheckpoints(self._redis, prefix=settings.redis_prefix),
        )
        self._prior = ProblemPrior(self.service)
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.service.start()

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.service.close()

    async def examples_stored(self) -> int:
        """Training examples in the store (one XLEN), for the admin UI."""
        return await self._examples.count()

    def _embedder(self, group: ModelGroup) -> CachedEmbedder:
        return CachedEmbedder(UpstreamEmbedder(self._dispatcher, group), self._cache)

    def ranker(self, group: ModelGroup) -> Ranker | None:
        if not group.embedding.upstreams:
            return None
        embedder = self._embedder(group)

        async def rank(problem: str, codes: list[tuple[int, str]]) -> dict[int, float]:
            vectors = await embedder.embed([feature_text(problem, code) for _, code in codes])
            scores = await self.service.score(vectors)
            return {index: score.energy for (index, _), score in zip(codes, scores, strict=True)}

        return rank

    def router_embedder(self, group: ModelGroup) -> CachedEmbedder | None:
        """The router's embeddings (near matches and the Lens' problem text, one request)
        through the Lens' cache: a repeated prompt costs a Redis read, not an embedding."""
        if not group.embedding.upstreams:
            return None
        return CachedEmbedder(UpstreamEmbedder(self._dispatcher, group, "router"), self._cache)

    def predictor(self, group: ModelGroup) -> FailurePredictor | None:
        """The router's L; None (neutral, nothing embedded) until a model is trained."""
        if not group.embedding.upstreams or not self.service.ready:
            return None
        return self._prior

    def record_later(self, group: ModelGroup, lessons: Lessons) -> None:
        """Turn the verdicts into training examples in the background: never on the hot path."""
        if not self._config.record or not group.embedding.upstreams:
            return
        task = asyncio.create_task(self._record(group, lessons))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record(self, group: ModelGroup, lessons: Lessons) -> None:
        try:
            vectors = await self._embedder(group).embed(
                [feature_text(lessons.problem, item.code) for item in lessons.labelled]
            )
            examples: list[Example] = [
                make_example(
                    vector,
                    passed=item.passed,
                    test_source=lessons.source,
                    problem_id=problem_id(lessons.problem),
                )
                for vector, item in zip(vectors, lessons.labelled, strict=True)
            ]
            await self.service.record(examples)
        except Exception:  # training data is best effort; the answer was already sent
            logger.exception("lens: could not record training examples")
