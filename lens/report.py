"""Summary, JSON and plots of an ablation run."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from lens.ablation import AUC_TARGET, PICK_TARGET_PP, CurvePoint, FoldResult, Held

logger = logging.getLogger(__name__)


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    folds: int
    examples: int
    problems: int
    mixed_problems: int
    auc_mean: float
    auc_std: float
    energy_gap_mean: float
    mixed_lens: float  # pooled over folds, weighted by mixed problems
    mixed_random: float
    mixed_worst: float
    lens_minus_random_pp: float
    auc_target_met: bool
    pick_target_met: bool
    metric_auc_mean: float | None = None
    metric_mixed_lens: float | None = None


def _pooled(helds: Sequence[Held], field: str) -> float:
    total = sum(h.picks.mixed_problems for h in helds)
    if total == 0:
        return 0.0
    return float(sum(getattr(h.picks, field) * h.picks.mixed_problems for h in helds)) / total


def summarize(results: Sequence[FoldResult]) -> Summary:
    helds = [r.held for r in results]
    aucs = [h.auc for h in helds]
    lens, rand = _pooled(helds, "mixed_lens"), _pooled(helds, "mixed_random")
    metric = [r.metric_held for r in results if r.metric_held is not None]
    return Summary(
        folds=len(results),
        examples=sum(r.test_examples for r in results),
        problems=sum(r.test_problems for r in results),
        mixed_problems=sum(h.picks.mixed_problems for h in helds),
        auc_mean=statistics.fmean(aucs),
        auc_std=statistics.pstdev(aucs),
        energy_gap_mean=statistics.fmean(h.energy_gap for h in helds),
        mixed_lens=lens,
        mixed_random=rand,
        mixed_worst=_pooled(helds, "mixed_worst"),
        lens_minus_random_pp=100 * (lens - rand),
        auc_target_met=statistics.fmean(aucs) >= AUC_TARGET,
        pick_target_met=100 * (lens - rand) >= PICK_TARGET_PP,
        metric_auc_mean=statistics.fmean(h.auc for h in metric) if metric else None,
        metric_mixed_lens=_pooled(metric, "mixed_lens") if metric else None,
    )


def histogram(values: Sequence[float], lo: float, hi: float, bins: int = 30) -> list[int]:
    counts = [0] * bins
    width = (hi - lo) / bins or 1.0
    for v in values:
        counts[min(bins - 1, max(0, math.floor((v - lo) / width)))] += 1
    return counts


def write_report(
    out_dir: Path,
    dataset: str,
    settings: Any,
    results: Sequence[FoldResult],
    curve: Sequence[CurvePoint],
) -> dict[str, Any]:
    """Write ablation.json (and PNGs when matplotlib is there); returns the JSON object."""
    out_dir.mkdir(parents=True, exist_ok=True)
    passing = [e for r in results for e in r.pass_energies]
    failing = [e for r in results for e in r.fail_energies]
    lo, hi = min(passing + failing, default=0.0), max(passing + failing, default=1.0)
    report: dict[str, Any] = {
        "dataset": dataset,
        "settings": msgspec.to_builtins(settings),
        "summary": msgspec.to_builtins(summarize(results)),
        "folds": [
            msgspec.to_builtins(msgspec.structs.replace(r, pass_energies=[], fail_energies=[]))
            for r in results
        ],
        "learning_curve": msgspec.to_builtins(list(curve)),
        "energy_histogram": {
            "lo": lo,
            "hi": hi,
            "pass": histogram(passing, lo, hi),
            "fail": histogram(failing, lo, hi),
        },
        "plots": write_plots(out_dir, curve, passing, failing),
    }
    (out_dir / "ablation.json").write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    return report


def write_plots(
    out_dir: Path, curve: Sequence[CurvePoint], passing: Sequence[float], failing: Sequence[float]
) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("lens ablation: matplotlib is not installed; no PNG plots")
        return []
    epochs = [p.epoch for p in curve]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(
        axes,
        ("auc", "first_pick_accuracy", "energy_gap"),
        ("held-out AUC", "pick pass rate", "energy gap"),
        strict=True,
    ):
        ax.plot(epochs, [getattr(p, key) for p in curve], marker=".")
        if key == "first_pick_accuracy":
            ax.plot(epochs, [p.pass_rate for p in curve], marker=".")
            ax.legend(["mixed problems", "all problems"])
        ax.set_xlabel("epoch")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out_dir / "learning_curve.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist([list(passing), list(failing)], bins=40, label=["pass", "fail"], alpha=0.7)
    ax.set_xlabel("energy (held-out)")
    ax.legend()
    fig.savefig(out_dir / "energy_hist.png", dpi=100)
    plt.close(fig)
    return ["learning_curve.png", "energy_hist.png"]
