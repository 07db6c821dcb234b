"""The Lens ablation: k-fold by problem over a labelled pool, with a learning curve.

Pool format (JSONL, one candidate a line):

    {"problem_id": "HumanEval/0", "passed": true, "embedding": [0.1, ...]}
    {"problem_id": "HumanEval/0", "passed": false, "embedding_path": "emb/0-3.npy"}

`embedding_path` is relative to the pool file and needs numpy to read; optional
fields are `test_source` ("request" | "prompt" | "generated", default "request")
and `candidate_id`. Each fold trains on the other folds' problems (with an inner
validation split by problem for model selection) and is scored on its own
problems only, which the model never saw.
"""

from __future__ import annotations

import copy
import logging
import random
from array import array
from collections.abc import Sequence
from pathlib import Path

import msgspec
import torch

from lens.metrics import PickStats, energy_auc, energy_gap, pick_stats
from lens.model import LensModel
from lens.records import Example
from lens.retrain import new_model
from lens.settings import LensSettings, TestSource
from lens.trainer import (
    LabelledData,
    energies,
    evaluate,
    fit_platt,
    split_by_problem,
    to_data,
    train_metric,
    train_model,
)

logger = logging.getLogger(__name__)

AUC_TARGET = 0.85
PICK_TARGET_PP = 10.0


class PoolRow(msgspec.Struct, kw_only=True):
    problem_id: str
    passed: bool
    embedding: list[float] | None = None
    embedding_path: str | None = None
    test_source: TestSource = "request"
    candidate_id: str = ""


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """Figures on held-out problems."""

    auc: float
    energy_gap: float
    picks: PickStats


class CurvePoint(msgspec.Struct, frozen=True, kw_only=True):
    epoch: int
    auc: float
    pass_rate: float  # lowest-energy pick, all held-out problems
    first_pick_accuracy: float  # lowest-energy pick, mixed held-out problems
    energy_gap: float


class FoldResult(msgspec.Struct, frozen=True, kw_only=True):
    fold: int
    test_examples: int
    test_problems: int
    selected_epoch: int
    held: Held
    metric_held: Held | None = None  # with the G(x) correction step
    pass_energies: list[float] = []
    fail_energies: list[float] = []


def load_pool(path: Path) -> list[Example]:
    rows: list[Example] = []
    decoder = msgspec.json.Decoder(PoolRow)
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
        vec = _row_vector(row, path.parent, lineno)
        rows.append(
            Example(
                embedding=array("f", vec).tobytes(),
                passed=row.passed,
                test_source=row.test_source,
                problem_id=row.problem_id,
            )
        )
    if not rows:
        raise ValueError(f"{path}: empty pool")
    if len({r.dim for r in rows}) != 1:
        raise ValueError(f"{path}: embeddings of different widths")
    return rows


def _row_vector(row: PoolRow, base: Path, lineno: int) -> Sequence[float]:
    if row.embedding is not None:
        return row.embedding
    if row.embedding_path is None:
        raise ValueError(f"line {lineno}: needs embedding or embedding_path")
    try:
        import numpy as np  # optional: only .npy pools need it
    except ImportError:
        raise ValueError("embedding_path needs numpy; inline the embeddings instead") from None
    values: list[float] = np.load(base / row.embedding_path).astype("float32").ravel().tolist()
    return values


def write_pool(path: Path, examples: Sequence[Example]) -> None:
    enc = msgspec.json.Encoder()
    with path.open("wb") as fh:
        for ex in examples:
            row = PoolRow(
                problem_id=ex.problem_id,
                passed=ex.passed,
                embedding=ex.vector(),
                test_source=ex.test_source,
            )
            fh.write(enc.encode(row) + b"\n")


def fold_problems(problems: Sequence[str], k: int, seed: int) -> list[set[str]]:
    order = sorted(set(problems))
    if len(order) < k:
        raise ValueError(f"{len(order)} problems cannot make {k} folds")
    random.Random(seed).shuffle(order)
    return [set(order[i::k]) for i in range(k)]


def held_figures(model: LensModel, data: LabelledData, alpha: float | None = None) -> Held:
    e = energies(model, data.x, alpha)
    labels = data.y.tolist()
    return Held(
        auc=energy_auc(e, labels),
        energy_gap=energy_gap(e, labels),
        picks=pick_stats(e, labels, data.problems),
    )


def _subset(data: LabelledData, problems: set[str]) -> LabelledData:
    mask = torch.tensor([p in problems for p in data.problems], dtype=torch.bool)
    return data.subset(torch.nonzero(mask).squeeze(1))


def run_fold(
    fold: int, data: LabelledData, test_problems: set[str], settings: LensSettings
) -> tuple[FoldResult, list[CurvePoint]]:
    """Train on the other folds for all epochs; report the epoch the inner split picks."""
    test = _subset(data, test_problems)
    train, inner_val = split_by_problem(
        _subset(data, set(data.problems) - test_problems), settings.val_fraction, settings.seed
    )
    model = new_model(settings)
    curve: list[CurvePoint] = []
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})

    def on_epoch(epoch: int, m: LensModel) -> None:
        nonlocal best
        h = held_figures(m, test)
        curve.append(
            CurvePoint(
                epoch=epoch,
                auc=h.auc,
                pass_rate=h.picks.lens_pass_rate,
                first_pick_accuracy=h.picks.mixed_lens,
                energy_gap=h.energy_gap,
            )
        )
        inner = evaluate(m, inner_val)[0]
        if inner > best[0]:
            best = (inner, epoch, copy.deepcopy(m.state_dict()))

    train_model(model, train, inner_val, settings, early_stopping=False, on_epoch=on_epoch)
    model.load_state_dict(best[2])
    fit_platt(model, inner_val)
    e = energies(model, test.x)
    labels = test.y.tolist()
    metric_held = None
    if model.metric is not None:
        train_metric(model, train, settings)
        metric_held = held_figures(model, test, settings.metric_alpha)
    return FoldResult(
        fold=fold,
        test_examples=len(test),
        test_problems=len(test_problems),
        selected_epoch=best[1],
        held=held_figures(model, test),
        metric_held=metric_held,
        pass_energies=[x for x, y in zip(e, labels, strict=True) if y],
        fail_energies=[x for x, y in zip(e, labels, strict=True) if not y],
    ), curve


def run_ablation(
    examples: Sequence[Example],
    settings: LensSettings,
    *,
    folds: int = 5,
) -> tuple[list[FoldResult], list[CurvePoint]]:
    torch.set_num_threads(settings.torch_threads)
    data = to_data(examples, settings)
    results: list[FoldResult] = []
    curves: list[list[CurvePoint]] = []
    for i, test_problems in enumerate(fold_problems(data.problems, folds, settings.seed)):
        result, curve = run_fold(i, data, test_problems, settings)
        logger.info(
            "lens ablation: fold %d AUC %.4f, mixed pick %.3f vs random %.3f",
            i,
            result.held.auc,
            result.held.picks.mixed_lens,
            result.held.picks.mixed_random,
        )
        results.append(result)
        curves.append(curve)
    return results, mean_curve(curves)


def mean_curve(curves: Sequence[Sequence[CurvePoint]]) -> list[CurvePoint]:
    out = []
    for points in zip(*curves, strict=True):
        n = len(points)
        out.append(
            CurvePoint(
                epoch=points[0].epoch,
                auc=sum(p.auc for p in points) / n,
                pass_rate=sum(p.pass_rate for p in points) / n,
                first_pick_accuracy=sum(p.first_pick_accuracy for p in points) / n,
                energy_gap=sum(p.energy_gap for p in points) / n,
            )
        )
    return out
