"""The energy model C(x), its Platt calibration and the experimental metric G(x).

C maps an embedding to a non-negative energy; low energy means likely correct.
G is a positive diagonal metric; the correction step dx = -alpha * G^-1 * grad C
moves an embedding downhill in energy, and the corrected energy C(x + dx) is
scored only when the experimental flag is set.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

_MIN_METRIC = 1e-3  # keeps G^-1 bounded


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class EnergyMLP(nn.Module):
    """C(x): d -> hidden... -> 1, SiLU between layers, Softplus on the output."""

    def __init__(self, dim: int, hidden: Sequence[int] = (512, 128)) -> None:
        super().__init__()
        self.net = _mlp([dim, *hidden, 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(x)).squeeze(-1)


class DiagonalMetric(nn.Module):
    """G(x): a positive diagonal, one entry per embedding dimension."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = _mlp([dim, hidden, dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(x)) + _MIN_METRIC


class LensModel(nn.Module):
    """C(x) plus Platt scaling p = sigmoid(bias - scale * energy), and optionally G(x)."""

    def __init__(
        self, dim: int, hidden: Sequence[int] = (512, 128), *, with_metric: bool = False
    ) -> None:
        super().__init__()
        self.dim = dim
        self.hidden = tuple(hidden)
        self.energy = EnergyMLP(dim, hidden)
        # softplus(0.5413) == 1.0: start with unit scale.
        self.raw_scale = nn.Parameter(torch.tensor(0.5413))
        self.bias = nn.Parameter(torch.tensor(0.0))
        self.metric: DiagonalMetric | None = DiagonalMetric(dim) if with_metric else None

    def logit(self, energy: torch.Tensor) -> torch.Tensor:
        return self.bias - F.softplus(self.raw_scale) * energy

    def p_correct(self, energy: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(energy))

    def correct(
        self,
        x: torch.Tensor,
        alpha: float,
        *,
        create_graph: bool = False,
    ) -> torch.Tensor:
        """x + dx with dx = -alpha G(x)^-1 grad C(x); needs the metric."""
        if self.metric is None:
            raise ValueError("this model has no metric network")
        with torch.enable_grad():
            x_req = x.detach().requires_grad_(True)
            grad = torch.autograd.grad(self.energy(x_req).sum(), x_req, create_graph=create_graph)[
                0
            ]
        metric: torch.Tensor = self.metric(x)
        return x - alpha * grad / metric

    def score_energy(self, x: torch.Tensor, *, alpha: float | None = None) -> torch.Tensor:
        """Energy at x, or at the corrected point when alpha is given."""
        point = x if alpha is None else self.correct(x, alpha)
        energy: torch.Tensor = self.energy(point)
        return energy


def model_config(model: LensModel) -> dict[str, object]:
    return {"dim": model.dim, "hidden": list(model.hidden), "with_metric": model.metric is not None}


def model_from_config(config: dict[str, object]) -> LensModel:
    dim = config["dim"]
    hidden = config["hidden"]
    if not isinstance(dim, int) or not isinstance(hidden, list):
        raise ValueError(f"bad model config {config!r}")
    return LensModel(dim, [int(h) for h in hidden], with_metric=bool(config.get("with_metric")))
