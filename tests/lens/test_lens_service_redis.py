"""LensService end to end with a real Redis: record, background training, hot swap, restart."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import torch

from lens.checkpoint import CheckpointStore
from lens.model import LensModel
from lens.records import Example
from lens.retrain import Candidate, new_model, train_candidate
from lens.service import LensService
from lens.settings import LensSettings
from lens.store import ExampleStore
from lens.synthetic import synthetic_examples
from lens.trainer import StopFlag

pytestmark = pytest.mark.redis
torch.set_num_threads(1)
SETTINGS = LensSettings(
    dim=32, hidden=(64, 32), epochs=25, patience=5, train_every=300, min_train_examples=50
)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ExampleStore]:
    conn = aioredis.Redis.from_url(redis_url)
    yield ExampleStore(conn, prefix=f"t{uuid.uuid4().hex[:8]}:")
    await conn.aclose()


async def _wait_idle(service: LensService) -> None:
    for _ in range(600):
        if not service.training:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("training did not finish")


async def test_enough_examples_train_in_background_and_swap(
    store: ExampleStore, tmp_path: Path
) -> None:
    service = LensService(SETTINGS, checkpoints=CheckpointStore(tmp_path), store=store)
    await service.start()
    try:
        await service.record(synthetic_examples(20, 10, 32, seed=1))
        assert not service.training  # 200 < train_every
        await service.record(synthetic_examples(20, 10, 32, seed=2, prefix="q"))
        assert service.training  # started, and record() returned without waiting
        await _wait_idle(service)
        status = service.status()
        assert status["version"] == 1 and status["ready"]
        assert status["last_training"]["swapped"] is True
        assert status["last_training"]["candidate_val_auc"] >= 0.9
        assert status["pending_examples"] == 0
    finally:
        await service.close()
    restarted = LensService(SETTINGS, checkpoints=CheckpointStore(tmp_path), store=store)
    await restarted.start()
    try:
        assert restarted.status()["version"] == 1
        assert restarted.status()["replay_size"] == 400
        assert restarted.status()["pending_examples"] == 0
    finally:
        await restarted.close()


def _sabotaged(
    current: LensModel | None, examples: Sequence[Example], settings: LensSettings, stop: StopFlag
) -> Candidate:
    """Real training, then the candidate is replaced by an untrained net."""
    real = train_candidate(current, examples, settings, stop)
    return Candidate(
        model=new_model(settings),
        metrics=real.metrics,
        candidate_auc=0.5,
        current_auc=real.current_auc,
    )


async def test_worse_model_is_not_swapped_in(store: ExampleStore, tmp_path: Path) -> None:
    checkpoints = CheckpointStore(tmp_path)
    good = LensService(SETTINGS, checkpoints=checkpoints, store=store)
    await good.start()
    await good.record(synthetic_examples(30, 10, 32, seed=1))
    first = await good.train_now()
    await good.close()
    assert first.swapped and first.version == 1

    service = LensService(SETTINGS, checkpoints=checkpoints, store=store, train_fn=_sabotaged)
    await service.start()
    try:
        await service.record(synthetic_examples(30, 10, 32, seed=3, prefix="r"))
        outcome = await service.train_now()
        assert not outcome.swapped and outcome.reason == "candidate worse on validation"
        assert outcome.current_val_auc is not None and outcome.current_val_auc > 0.9
        assert service.status()["version"] == 1
        assert checkpoints.versions() == [1]
    finally:
        await service.close()


async def test_too_few_new_examples_do_not_train(store: ExampleStore, tmp_path: Path) -> None:
    service = LensService(SETTINGS, checkpoints=CheckpointStore(tmp_path), store=store)
    await service.start()
    try:
        await service.record(synthetic_examples(2, 10, 32))
        outcome = await service.train_now()
        assert not outcome.swapped and "need 50" in outcome.reason
        assert not service.ready
    finally:
        await service.close()
