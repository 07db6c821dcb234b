"""Training of the Lens: pairwise margin + calibration loss, early stopping by problem split.

Everything here is synchronous and CPU-bound; the service runs it in a worker thread.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from lens.metrics import energy_auc, energy_gap
from lens.model import LensModel
from lens.records import EpochStat, Example, TrainMetrics
from lens.settings import LensSettings

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, LensModel], None]
StopFlag = Callable[[], bool]


class NotEnoughDataError(ValueError):
    """The examples cannot make a train/validation split by problem."""


@dataclass(frozen=True)
class LabelledData:
    x: torch.Tensor  # (n, d) float32
    y: torch.Tensor  # (n,) bool
    w: torch.Tensor  # (n,) float32 loss weights from the verdict source
    group: torch.Tensor  # (n,) int64 problem index
    problems: tuple[str, ...]  # problem id per row

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, idx: torch.Tensor) -> LabelledData:
        rows = idx.tolist()
        return LabelledData(
            self.x[idx],
            self.y[idx],
            self.w[idx],
            self.group[idx],
            tuple(self.problems[i] for i in rows),
        )


def to_data(examples: Sequence[Example], settings: LensSettings) -> LabelledData:
    """Tensors of the examples whose source weight is positive and whose width matches."""
    kept = [
        e for e in examples if settings.source_weight(e.test_source) > 0 and e.dim == settings.dim
    ]
    if len(kept) < len(examples):
        logger.debug(
            "lens: dropped %d of %d examples (weight 0 or width)",
            len(examples) - len(kept),
            len(examples),
        )
    raw = b"".join(e.embedding for e in kept)
    x = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(len(kept), settings.dim)
    ids = {p: i for i, p in enumerate(dict.fromkeys(e.problem_id for e in kept))}
    return LabelledData(
        x=x,
        y=torch.tensor([e.passed for e in kept], dtype=torch.bool),
        w=torch.tensor([settings.source_weight(e.test_source) for e in kept]),
        group=torch.tensor([ids[e.problem_id] for e in kept], dtype=torch.int64),
        problems=tuple(e.problem_id for e in kept),
    )


def _in_val(problem_id: str, val_fraction: float, seed: int) -> bool:
    # A hash, not a shuffle: a problem stays on the same side across retrains,
    # so the current and the candidate model are compared on unseen problems.
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_fraction


def split_by_problem(
    data: LabelledData,
    val_fraction: float,
    seed: int,
) -> tuple[LabelledData, LabelledData]:
    problems = sorted(set(data.problems))
    if len(problems) < 2:
        raise NotEnoughDataError(f"need at least 2 problems to split, got {len(problems)}")
    val = {p for p in problems if _in_val(p, val_fraction, seed)}
    if not val or len(val) == len(problems):
        val = {problems[0]} if not val else set(problems[1:])
    mask = torch.tensor([p in val for p in data.problems], dtype=torch.bool)
    return data.subset(torch.nonzero(~mask).squeeze(1)), data.subset(torch.nonzero(mask).squeeze(1))


def pairwise_margin_loss(
    energy: torch.Tensor, y: torch.Tensor, group: torch.Tensor, w: torch.Tensor, margin: float
) -> torch.Tensor:
    """Hinge on E(fail) - E(pass) >= margin over pass/fail pairs of the same problem."""
    pair = (group[:, None] == group[None, :]) & y[:, None] & ~y[None, :]
    if not bool(pair.any()):
        return energy.new_zeros(())
    weight = torch.minimum(w[:, None], w[None, :]) * pair
    hinge = F.relu(margin - (energy[None, :] - energy[:, None]))
    return (hinge * weight).sum() / weight.sum().clamp_min(1e-8)


def calibration_loss(
    model: LensModel, energy: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(model.logit(energy), y.float(), reduction="none")
    return (bce * w).sum() / w.sum().clamp_min(1e-8)


def energies(
    model: LensModel,
    x: torch.Tensor,
    alpha: float | None = None,
) -> list[float]:
    model.eval()
    with torch.no_grad():
        values: list[float] = model.score_energy(x, alpha=alpha).tolist()
        return values


def evaluate(
    model: LensModel,
    data: LabelledData,
    alpha: float | None = None,
) -> tuple[float, float]:
    """(AUC, energy gap) of the model on the data."""
    e = energies(model, data.x, alpha)
    labels = data.y.tolist()
    return energy_auc(e, labels), energy_gap(e, labels)


def _batches(data: LabelledData, per_batch: int, gen: torch.Generator) -> list[torch.Tensor]:
    groups = torch.unique(data.group)
    order = groups[torch.randperm(len(groups), generator=gen)]
    out = []
    for start in range(0, len(order), per_batch):
        chosen = order[start : start + per_batch]
        out.append(torch.nonzero(torch.isin(data.group, chosen)).squeeze(1))
    return out


def _epoch(
    model: LensModel,
    opt: torch.optim.Optimizer,
    data: LabelledData,
    settings: LensSettings,
    gen: torch.Generator,
) -> float:
    model.train()
    total = 0.0
    batches = _batches(data, settings.problems_per_batch, gen)
    for idx in batches:
        e = model.energy(data.x[idx])
        loss = pairwise_margin_loss(e, data.y[idx], data.group[idx], data.w[idx], settings.margin)
        loss = loss + settings.calibration_weight * calibration_loss(
            model, e, data.y[idx], data.w[idx]
        )
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(loss.detach())
    return total / max(len(batches), 1)


def train_model(
    model: LensModel,
    train: LabelledData,
    val: LabelledData,
    settings: LensSettings,
    *,
    early_stopping: bool = True,
    on_epoch: EpochCallback | None = None,
    should_stop: StopFlag | None = None,
) -> TrainMetrics:
    """Train C(x) and the calibration in place; keeps the state of the best validation AUC."""
    gen = torch.Generator().manual_seed(settings.seed)
    params = [p for n, p in model.named_parameters() if not n.startswith("metric.")]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    best_auc, best_epoch, best_state = evaluate(model, val)[0], 0, copy.deepcopy(model.state_dict())
    history: list[EpochStat] = []
    for epoch in range(1, settings.epochs + 1):
        if should_stop is not None and should_stop():
            logger.info("lens: training stopped at epoch %d", epoch)
            break
        loss = _epoch(model, opt, train, settings, gen)
        val_auc = evaluate(model, val)[0]
        history.append(EpochStat(epoch=epoch, loss=loss, val_auc=val_auc))
        if on_epoch is not None:
            on_epoch(epoch, model)
        if val_auc > best_auc or not early_stopping:
            best_auc, best_epoch, best_state = val_auc, epoch, copy.deepcopy(model.state_dict())
        elif early_stopping and epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return TrainMetrics(
        n_train=len(train),
        n_val=len(val),
        train_problems=len(set(train.problems)),
        val_problems=len(set(val.problems)),
        epochs_run=len(history),
        best_epoch=best_epoch,
        val_auc=best_auc,
        val_energy_gap=evaluate(model, val)[1],
        history=tuple(history),
    )


def fit_platt(model: LensModel, data: LabelledData, steps: int = 50) -> None:
    """Refit the calibration (scale, bias) on held data with the energy frozen.

    Joint training leaves p(correct) lagging behind the energies it chose; a
    final Platt fit on problems the energy never trained on makes it honest.
    """
    with torch.no_grad():
        e = model.energy(data.x)
    opt = torch.optim.LBFGS([model.raw_scale, model.bias], lr=0.5, max_iter=steps)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = calibration_loss(model, e, data.y, data.w)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]


def train_metric(
    model: LensModel, train: LabelledData, settings: LensSettings, epochs: int = 10
) -> None:
    """Fit G(x) with C(x) frozen: the pairwise loss on corrected energies C(x + dx)."""
    if model.metric is None:
        raise ValueError("model has no metric network")
    gen = torch.Generator().manual_seed(settings.seed + 1)
    opt = torch.optim.AdamW(model.metric.parameters(), lr=settings.lr)
    for p in model.energy.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(epochs):
            for idx in _batches(train, settings.problems_per_batch, gen):
                e = model.score_energy(train.x[idx], alpha=settings.metric_alpha)
                loss = pairwise_margin_loss(
                    e, train.y[idx], train.group[idx], train.w[idx], settings.margin
                )
                if not loss.requires_grad:
                    continue  # no pass/fail pair in this batch
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
    finally:
        for p in model.energy.parameters():
            p.requires_grad_(True)
    model.eval()


class ReplayBuffer:
    """A bounded uniform sample (reservoir) of past examples, mixed into each retrain."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self._items: list[Example] = []
        self._seen = 0
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self._items)

    def extend(self, examples: Sequence[Example]) -> None:
        for ex in examples:
            self._seen += 1
            if len(self._items) < self.capacity:
                self._items.append(ex)
            else:
                slot = self._rng.randrange(self._seen)
                if slot < self.capacity:
                    self._items[slot] = ex

    def items(self) -> list[Example]:
        return list(self._items)
