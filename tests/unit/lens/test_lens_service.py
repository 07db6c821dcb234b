"""LensService without Redis: scoring, readiness and restart from a checkpoint."""

from pathlib import Path

import pytest
import torch

from lens.checkpoint import CheckpointStore
from lens.retrain import train_candidate
from lens.service import LensService
from lens.settings import LensSettings
from lens.synthetic import synthetic_examples
from lens.trainer import to_data

torch.set_num_threads(1)
SETTINGS = LensSettings(dim=32, hidden=(64, 32), epochs=25, patience=5)


async def test_untrained_service_keeps_order(tmp_path: Path) -> None:
    service = LensService(SETTINGS, checkpoints=CheckpointStore(tmp_path))
    await service.start()
    try:
        assert not service.ready
        assert await service.rank([[0.0] * 32] * 3) == [0, 1, 2]
        assert await service.score([]) == []
    finally:
        await service.close()


async def test_restart_loads_last_checkpoint_and_ranks(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    first = train_candidate(None, synthetic_examples(40, 10, 32, seed=1), SETTINGS)
    store.save(train_candidate(None, synthetic_examples(10, 4, 32), SETTINGS).model, {})
    store.save(first.model, {"trained_through": "5-0"})
    service = LensService(SETTINGS, checkpoints=CheckpointStore(tmp_path))
    await service.start()
    try:
        assert service.ready and service.status()["version"] == 2
        assert service.status()["trained_through"] == "5-0"
        held = to_data(synthetic_examples(1, 20, 32, seed=42), SETTINGS)
        rows = [bytes(r.clone().untyped_storage()) for r in held.x]
        scores = await service.score(rows)
        with torch.no_grad():
            expected = first.model.energy(held.x).tolist()
        assert [s.energy for s in scores] == pytest.approx(expected, rel=1e-5)
        order = await service.rank(rows)
        passed = held.y.tolist()
        assert passed[order[0]]  # lowest energy is a passing candidate here
        assert passed.count(True) < len(passed)  # and the pick is not trivial
    finally:
        await service.close()


async def test_score_rejects_wrong_width(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(train_candidate(None, synthetic_examples(10, 4, 32), SETTINGS).model, {})
    service = LensService(SETTINGS, checkpoints=store)
    await service.start()
    try:
        with pytest.raises(ValueError, match="expected 32"):
            await service.score([[0.0] * 31])
    finally:
        await service.close()
