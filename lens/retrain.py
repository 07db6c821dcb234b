"""One retraining cycle: warm start, train, and compare with the serving model."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lens.model import LensModel
from lens.records import Example, TrainMetrics
from lens.settings import LensSettings
from lens.trainer import (
    StopFlag,
    evaluate,
    fit_platt,
    split_by_problem,
    to_data,
    train_metric,
    train_model,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    model: LensModel
    metrics: TrainMetrics
    candidate_auc: float
    current_auc: float | None  # the serving model on the same validation problems


def new_model(settings: LensSettings) -> LensModel:
    torch.manual_seed(settings.seed)
    return LensModel(settings.dim, settings.hidden, with_metric=settings.metric_correction)


def scoring_alpha(model: LensModel, settings: LensSettings) -> float | None:
    """The correction step size when the experimental flag is on and G exists."""
    if settings.metric_correction and model.metric is not None:
        return settings.metric_alpha
    return None


def _warm_start(current: LensModel | None, settings: LensSettings) -> LensModel:
    fits = (
        current is not None
        and current.dim == settings.dim
        and current.hidden == tuple(settings.hidden)
        and (current.metric is not None) == settings.metric_correction
    )
    if current is not None and fits:
        return copy.deepcopy(current)
    if current is not None:
        logger.warning("lens: serving model shape differs from settings; training from scratch")
    return new_model(settings)


def train_candidate(
    current: LensModel | None,
    examples: Sequence[Example],
    settings: LensSettings,
    should_stop: StopFlag | None = None,
) -> Candidate:
    """Train a candidate from the serving model; blocking, run it in a worker thread."""
    torch.set_num_threads(settings.torch_threads)
    train, val = split_by_problem(to_data(examples, settings), settings.val_fraction, settings.seed)
    model = _warm_start(current, settings)
    metrics = train_model(model, train, val, settings, should_stop=should_stop)
    fit_platt(model, val)
    if model.metric is not None:
        train_metric(model, train, settings)
    cand_auc = evaluate(model, val, scoring_alpha(model, settings))[0]
    cur_auc = (
        None if current is None else evaluate(current, val, scoring_alpha(current, settings))[0]
    )
    return Candidate(model=model, metrics=metrics, candidate_auc=cand_auc, current_auc=cur_auc)


def should_swap(candidate: Candidate) -> bool:
    """Serve the candidate only if it is not worse than the current model on validation."""
    return candidate.current_auc is None or candidate.candidate_auc >= candidate.current_auc
