"""The routing benchmark's PNG: pass@1 against candidates per problem, fixed k as a
line of squares, each router pass as a labelled dot, and the issue's target region
(within 1 point of fixed k=20 at no more than 40 % of its 20 candidates) shaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGET_POINTS = 1.0  # percentage points below fixed k=20's pass@1
TARGET_SHARE = 0.4  # of fixed k=20's nominal 20 candidates


def plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    fixed = [r for r in rows if r["row"].startswith("k=")]
    routed = [r for r in rows if r["row"].startswith("router")]
    oracles = [r for r in rows if r["row"].startswith("oracle")]
    if fixed:
        xs = [r["candidates_per_problem"] for r in fixed]
        ys = [100 * r["pass_at_1"] for r in fixed]
        axes.plot(xs, ys, "s-", color="tab:gray", label="fixed k (a ceiling: adaptive waves)")
        for row, x, y in zip(fixed, xs, ys, strict=True):
            axes.annotate(row["row"], (x, y), textcoords="offset points", xytext=(4, -12))
    hard = next((r for r in fixed if r["row"] == "k=20"), None)
    if hard is not None:
        floor = 100 * hard["pass_at_1"] - TARGET_POINTS
        axes.fill_between(
            [0, TARGET_SHARE * 20], floor, 100, color="tab:green", alpha=0.12, label="target"
        )
    for row in oracles:
        x, y = row["candidates_per_problem"], 100 * row["pass_at_1"]
        axes.plot([x], [y], "D", mfc="none", color="tab:red", label="oracle router (bound)")
    for index, row in enumerate(routed):
        x, y = row["candidates_per_problem"], 100 * row["pass_at_1"]
        axes.plot([x], [y], "o", color="tab:blue", label="router" if index == 0 else None)
        below = index % 2 == 0  # alternate, so the passes' labels do not overlap
        label = row["row"].removeprefix("router ")
        axes.annotate(label, (x, y), textcoords="offset points", xytext=(-20, -14 if below else 7))
    axes.set_xlabel("candidates per problem")
    axes.set_ylabel("pass@1 (%), hidden tests")
    top = max((100 * r["pass_at_1"] for r in rows), default=50.0)
    axes.set_ylim(0, min(100, top + 15))
    axes.set_xlim(0, 21)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
