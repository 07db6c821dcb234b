"""LensService: the async facade the gateway holds for the life of the process.

Scoring runs in a small thread pool, training in one background thread; the
serving model is replaced by one reference assignment, so a score call sees
either the old model or the new one, never a half-trained one.

With several replicas (a `TrainingLease` and `PublishedCheckpoints` given), a cycle
trains only while it holds the lease, and its checkpoint is published through Redis,
fenced by the lease's token; the other replicas poll for it and swap it in the same
way. Without them, one process trains and saves on its own, as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import torch

from lens.checkpoint import CheckpointStore, Loaded, decode, encode
from lens.lease import Keeper, TrainingLease
from lens.model import LensModel
from lens.published import PublishedCheckpoints
from lens.records import Example, LensScore, TrainOutcome
from lens.retrain import Candidate, scoring_alpha, should_swap, train_candidate
from lens.scoring import Vector, neutral_scores, rank_by_energy, score_batch, to_matrix
from lens.settings import LensSettings
from lens.store import ExampleStore, StoredExample
from lens.trainer import NotEnoughDataError, ReplayBuffer, StopFlag

logger = logging.getLogger(__name__)

TrainFn = Callable[[LensModel | None, Sequence[Example], LensSettings, StopFlag], Candidate]


class LensService:
    def __init__(
        self,
        settings: LensSettings,
        *,
        checkpoints: CheckpointStore,
        store: ExampleStore | None = None,
        train_fn: TrainFn = train_candidate,
        lease: TrainingLease | None = None,
        published: PublishedCheckpoints | None = None,
    ) -> None:
        if (lease is None) != (published is None):
            raise ValueError("a training lease and published checkpoints go together")
        self.settings = settings
        self._checkpoints = checkpoints
        self._store = store
        self._train_fn = train_fn
        self._lease = lease
        self._published = published
        self._follower: asyncio.Task[None] | None = None
        self._adopting = asyncio.Lock()
        self._model: LensModel | None = None
        self._version: int | None = None
        self._trained_through: str | None = None
        self._pending = 0
        self._replay = ReplayBuffer(settings.replay_size, settings.seed)
        self._stop = threading.Event()
        self._task: asyncio.Task[TrainOutcome] | None = None
        self._last: TrainOutcome | None = None
        self._score_pool = ThreadPoolExecutor(settings.score_workers, "lens-score")
        self._train_pool = ThreadPoolExecutor(1, "lens-train")

    async def start(self) -> None:
        """Load the last checkpoint and rebuild the replay buffer from the store."""
        torch.set_num_threads(self.settings.torch_threads)
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(self._train_pool, self._checkpoints.load_latest)
        if loaded is not None:
            self._model, self._version = loaded.model, loaded.version
            through = loaded.meta.get("trained_through")
            self._trained_through = through if isinstance(through, str) else None
            logger.info("lens: serving checkpoint v%d", loaded.version)
        if self._store is not None:
            stored = await self._store.read()
            seen = [s.example for s in stored if not _is_after(s.id, self._trained_through)]
            self._replay.extend(seen)
            self._pending = len(stored) - len(seen)
        if self._published is not None:
            await self._adopt_published()
            self._follower = asyncio.create_task(self._follow(), name="lens-follow")

    async def close(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._score_pool.shutdown(wait=False)
        self._train_pool.shutdown(wait=False)

    @property
    def ready(self) -> bool:
        return self._model is not None

    async def score(self, embeddings: Sequence[Vector]) -> list[LensScore]:
        """Energy and p(correct) per candidate, one batched forward pass off the loop."""
        model = self._model  # one read: a swap during the pass does not matter
        if not embeddings:
            return []
        if model is None:
            return neutral_scores(len(embeddings))
        alpha = scoring_alpha(model, self.settings)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._score_pool, _score, model, embeddings, self.settings.dim, alpha
        )

    async def rank(self, embeddings: Sequence[Vector]) -> list[int]:
        """Indices of the candidates, most likely correct first."""
        return rank_by_energy(await self.score(embeddings))

    async def record(self, examples: Sequence[Example]) -> None:
        """Store verified examples; start a background run when enough are new."""
        if self._store is None or not examples:
            return
        await self._store.add(examples)
        self._pending += len(examples)
        if self._pending >= self.settings.train_every and not self.training:
            self._task = asyncio.create_task(self._cycle(), name="lens-train")
            self._task.add_done_callback(_log_failure)

    @property
    def training(self) -> bool:
        return self._task is not None and not self._task.done()

    async def train_now(self) -> TrainOutcome:
        """Run one cycle now (or wait for the running one); for the CLI and tests."""
        if self._task is not None and not self._task.done():
            return await self._task
        self._task = asyncio.create_task(self._cycle(), name="lens-train")
        return await self._task

    async def _cycle(self) -> TrainOutcome:
        if self._store is None:
            return self._finish(TrainOutcome(swapped=False, reason="no example store"))
        if self._lease is None:
            return self._finish(await self._train(self._store, None))
        async with self._lease.hold() as keeper:
            if keeper is None:
                reason = "another replica holds the training lease"
                return self._finish(TrainOutcome(swapped=False, reason=reason))
            async with self._adopting:  # train on top of the newest published model
                await self._adopt_newest()
            return self._finish(await self._train(self._store, keeper))

    async def _train(self, store: ExampleStore, keeper: Keeper | None) -> TrainOutcome:
        fresh = await store.read(after=self._trained_through)
        if len(fresh) < self.settings.min_train_examples:
            return TrainOutcome(
                swapped=False,
                reason=f"{len(fresh)} new examples, need {self.settings.min_train_examples}",
            )
        examples = [s.example for s in fresh] + self._replay.items()
        loop = asyncio.get_running_loop()
        try:
            cand = await loop.run_in_executor(
                self._train_pool,
                self._train_fn,
                self._model,
                examples,
                self.settings,
                self._stop_flag(keeper),
            )
        except NotEnoughDataError as exc:
            return TrainOutcome(swapped=False, reason=str(exc))
        if keeper is not None and keeper.lost.is_set():
            return TrainOutcome(swapped=False, reason="training lease lost; candidate dropped")
        self._consume(fresh)
        return await self._maybe_swap(cand, keeper)

    def _stop_flag(self, keeper: Keeper | None) -> StopFlag:
        """Training stops at close and, under a lease, as soon as the lease is lost."""
        if keeper is None:
            return self._stop.is_set
        lost = keeper.lost
        return lambda: self._stop.is_set() or lost.is_set()

    def _consume(self, fresh: list[StoredExample]) -> None:
        self._replay.extend([s.example for s in fresh])
        self._trained_through = fresh[-1].id
        self._pending = max(0, self._pending - len(fresh))

    async def _maybe_swap(self, cand: Candidate, keeper: Keeper | None) -> TrainOutcome:
        common: dict[str, Any] = {
            "current_val_auc": cand.current_auc,
            "candidate_val_auc": cand.candidate_auc,
            "metrics": cand.metrics,
        }
        if not should_swap(cand):
            logger.info(
                "lens: candidate kept out: val AUC %.4f < current %.4f",
                cand.candidate_auc,
                cand.current_auc,
            )
            return TrainOutcome(
                swapped=False,
                reason="candidate worse on validation",
                version=self._version,
                **common,
            )
        meta = {
            "trained_through": self._trained_through,
            "val_auc": cand.candidate_auc,
            "metrics": msgspec.to_builtins(cand.metrics),
        }
        version = await self._save(cand.model, meta, keeper)
        if version is None:
            return TrainOutcome(
                swapped=False,
                reason="fenced off: the training lease moved to another replica",
                version=self._version,
                **common,
            )
        self._model, self._version = cand.model, version
        logger.info("lens: serving v%d, val AUC %.4f", version, cand.candidate_auc)
        return TrainOutcome(
            swapped=True, reason="not worse on validation", version=version, **common
        )

    async def _save(
        self, model: LensModel, meta: dict[str, Any], keeper: Keeper | None
    ) -> int | None:
        """Save the checkpoint; under a lease, publish it first: None if fenced off."""
        loop = asyncio.get_running_loop()
        if keeper is not None and self._published is not None:
            if keeper.lost.is_set():
                return None
            data = await loop.run_in_executor(self._train_pool, encode, model, meta)
            published = await self._published.publish(
                keeper.held.token, data, floor=self._version or 0
            )
            if published is None:
                return None
            return await loop.run_in_executor(
                self._train_pool, self._checkpoints.save, model, meta, published
            )
        return await loop.run_in_executor(self._train_pool, self._checkpoints.save, model, meta)

    async def _follow(self) -> None:
        """Poll for a checkpoint another replica published, every poll_interval_s."""
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            try:
                async with self._adopting:
                    if not self.training:  # a cycle adopts at its start and publishes
                        await self._adopt_newest()
            except Exception as exc:  # the poll must outlive a Redis outage or a bad blob
                logger.warning("lens: could not load the published checkpoint: %s", exc)

    async def _adopt_published(self) -> None:
        async with self._adopting:
            await self._adopt_newest()

    async def _adopt_newest(self) -> None:
        """Serve the published checkpoint if it is not the one served (hold `_adopting`)."""
        assert self._published is not None
        if await self._published.version() in (None, self._version):
            return
        fetched = await self._published.fetch()
        if fetched is None:
            return
        loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(self._train_pool, self._install, *fetched)
        await self._catch_up(loaded)
        logger.info("lens: serving published checkpoint v%d", loaded.version)

    def _install(self, version: int, data: bytes) -> Loaded:
        """Decode a published checkpoint and keep a copy in checkpoint_dir (a thread)."""
        loaded = decode(data, version)
        self._checkpoints.save(loaded.model, loaded.meta, version)
        return loaded

    async def _catch_up(self, loaded: Loaded) -> None:
        """Swap in `loaded`: what it was trained on joins the replay buffer, the rest
        is pending; one step with no await, so a score call sees old or new."""
        through = loaded.meta.get("trained_through")
        mark = through if isinstance(through, str) else None
        ours = self._trained_through
        newer = [] if self._store is None else await self._store.read(after=_earlier(ours, mark))
        seen = [s.example for s in newer if _is_after(s.id, ours) and not _is_after(s.id, mark)]
        self._replay.extend(seen)
        self._model, self._version, self._trained_through = loaded.model, loaded.version, mark
        self._pending = sum(1 for s in newer if _is_after(s.id, mark))

    def _finish(self, outcome: TrainOutcome) -> TrainOutcome:
        self._last = outcome
        return outcome

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "version": self._version,
            "dim": self.settings.dim,
            "metric_correction": self.settings.metric_correction,
            "trained_through": self._trained_through,
            "pending_examples": self._pending,
            "train_every": self.settings.train_every,
            "training": self.training,
            "replay_size": len(self._replay),
            "checkpoint_dir": str(self._checkpoints.directory),
            "shared": self._published is not None,
            "last_training": None if self._last is None else msgspec.to_builtins(self._last),
        }


def _score(
    model: LensModel, embeddings: Sequence[Vector], dim: int, alpha: float | None
) -> list[LensScore]:
    return score_batch(model, to_matrix(embeddings, dim), alpha)


def _is_after(entry_id: str, mark: str | None) -> bool:
    """Stream id order: 'ms-seq', compared numerically."""
    if mark is None:
        return True
    a, b = (tuple(int(p) for p in s.split("-")) for s in (entry_id, mark))
    return a > b


def _earlier(a: str | None, b: str | None) -> str | None:
    """The earlier of two stream ids; None (the stream's start) if either is."""
    if a is None or b is None:
        return None
    return b if _is_after(a, b) else a


def _log_failure(task: asyncio.Task[TrainOutcome]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("lens: background training failed", exc_info=task.exception())
