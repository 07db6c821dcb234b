"""Data records of the Lens: training examples, scores and training metrics."""

from __future__ import annotations

import time
from array import array
from collections.abc import Sequence

import msgspec

from lens.settings import TestSource


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """One verified candidate: its embedding and the sandbox verdict."""

    # float32, native byte order (little-endian on every platform we run).
    embedding: bytes
    passed: bool
    test_source: TestSource
    problem_id: str
    tenant: str = ""
    created_at: float = 0.0

    def vector(self) -> list[float]:
        return array("f", self.embedding).tolist()

    @property
    def dim(self) -> int:
        return len(self.embedding) // 4


def make_example(
    embedding: Sequence[float],
    *,
    passed: bool,
    test_source: TestSource,
    problem_id: str,
    tenant: str = "",
    created_at: float | None = None,
) -> Example:
    """Build an Example from a float vector, packing it as float32 bytes."""
    return Example(
        embedding=array("f", embedding).tobytes(),
        passed=passed,
        test_source=test_source,
        problem_id=problem_id,
        tenant=tenant,
        created_at=time.time() if created_at is None else created_at,
    )


class LensScore(msgspec.Struct, frozen=True, kw_only=True):
    """Low energy means likely correct; p_correct is the calibrated probability."""

    energy: float
    p_correct: float


class EpochStat(msgspec.Struct, frozen=True, kw_only=True):
    epoch: int
    loss: float
    val_auc: float


class TrainMetrics(msgspec.Struct, frozen=True, kw_only=True):
    n_train: int
    n_val: int
    train_problems: int
    val_problems: int
    epochs_run: int
    best_epoch: int
    val_auc: float
    val_energy_gap: float
    history: tuple[EpochStat, ...] = ()


class TrainOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one training cycle did; `swapped` tells whether the new model serves now."""

    swapped: bool
    reason: str
    current_val_auc: float | None = None
    candidate_val_auc: float | None = None
    version: int | None = None
    metrics: TrainMetrics | None = None
