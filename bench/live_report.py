"""Figures of `atlas bench live`: one summary per setting, a markdown table, a PNG.

pass@1 is the share of problems whose one answer passes the hidden tests (a failed
request counts as a failure); candidates, tokens and wall time are means per problem
over the answered requests (wall time over all); p90 is the nearest-rank 90th
percentile. Losses are the problems the model alone solves and the setting does not.

The oracle of plain sampling (K samples per problem) is reported apart: its pass figure
is oracle pass@K, the share of problems where at least one sample passed, beside the
raw pass@1 of sampling (passing samples / samples, the mean of c/K); its candidates,
tokens and wall time are per problem, summed over the K requests. It picks with the
hidden tests, so it has no losses or gains against the model alone, and the PNG draws it
hollow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from bench.live_client import MODEL_ALONE, Setting
from bench.live_results import Row
from bench.report import write_section

ORACLE_LEGEND = "oracle: picks with the hidden tests"


class Summary(msgspec.Struct, kw_only=True):
    setting: str
    label: str
    k: int
    repair: int
    problems: int
    passed: int
    pass_at_1: float
    errors: int
    candidates_per_problem: float
    tokens_per_problem: float
    wall_mean_s: float
    wall_p90_s: float
    gateway: str  # how the gateway answered: pass-through, best-of-k, pending ...
    losses: list[str] = msgspec.field(default_factory=list)
    gains: list[str] = msgspec.field(default_factory=list)
    # The oracle of plain sampling only: `passed` counts the problems where any of its
    # `samples` passed, `pass_at_1` is the raw pass@1 of sampling (the mean of c/K).
    samples: int = 0
    samples_passed: int = 0
    oracle_pass_at_k: float | None = None

    @property
    def score(self) -> float:
        """The setting's pass figure: oracle pass@K for the oracle, else pass@1."""
        return self.pass_at_1 if self.oracle_pass_at_k is None else self.oracle_pass_at_k


class RunInfo(msgspec.Struct, kw_only=True):
    dataset: str
    start: int
    stop: int  # one past the last index
    total: int  # problems in the dataset (MBPP: the usable ones)
    model: str
    gateway: str  # "embedded default" or the base URL
    date: str
    cpus: int
    max_tokens: int


def p90(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def gateway_status(setting: Setting, rows: Sequence[Row]) -> str:
    """What the answers' headers say the gateway did with the setting."""
    answered = [r for r in rows if r.error is None]
    if setting.oracle:
        seeds = "seed 0" if setting.samples == 1 else f"seeds 0..{setting.samples - 1}"
        return f"pass-through, t={setting.temperature:g}, {seeds}"
    if setting.k == 1:
        text = "pass-through"
    else:
        seen = sorted({r.headers.get("x-atlas-k", "missing") for r in answered})
        text = "best-of-k" if str(setting.k) in seen else f"pending (x-atlas-k {', '.join(seen)})"
    if setting.repair > 0 and not any(_reports_repair(r) for r in answered):
        text += "; repair not reported"
    return text


def _reports_repair(row: Row) -> bool:
    in_debug = isinstance(row.debug, dict) and any("repair" in key for key in row.debug)
    return in_debug or any("repair" in name for name in row.headers)


def summarise(setting: Setting, rows: Sequence[Row], alone: Sequence[Row]) -> Summary:
    answered = [r for r in rows if r.error is None]
    solved = {r.task_id for r in rows if r.passed}
    share = len(solved) / len(rows) if rows else 0.0
    losses, gains = ([], []) if setting.oracle else _versus(rows, solved, alone)
    return Summary(
        setting=setting.key,
        label=setting.label,
        k=setting.k,
        repair=setting.repair,
        problems=len(rows),
        passed=len(solved),
        pass_at_1=_mean([r.passes / setting.samples for r in rows]) if setting.oracle else share,
        errors=len(rows) - len(answered),
        candidates_per_problem=_mean([r.candidates for r in answered]),
        tokens_per_problem=_mean([r.tokens for r in answered]),
        wall_mean_s=_mean([r.wall_s for r in rows]),
        wall_p90_s=p90([r.wall_s for r in rows]),
        gateway=gateway_status(setting, rows),
        losses=losses,
        gains=gains,
        samples=setting.samples,
        samples_passed=sum(r.passes for r in rows),
        oracle_pass_at_k=share if setting.oracle else None,
    )


def _versus(
    rows: Sequence[Row], solved: set[str], alone: Sequence[Row]
) -> tuple[list[str], list[str]]:
    """Losses (solved by the model alone, not here) and gains (the reverse), in order."""
    solved_alone = {r.task_id for r in alone if r.passed}
    order = [r.task_id for r in rows]
    losses = [t for t in order if t in solved_alone and t not in solved]
    return losses, [t for t in order if t in solved and t not in solved_alone]


def table(summaries: Sequence[Summary]) -> str:
    lines = [
        "| setting | gateway | problems | pass@1 | candidates / problem | tokens / problem |"
        " wall mean (s) | wall p90 (s) | errors | losses vs model alone | gains |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in summaries:
        versus = s.setting == MODEL_ALONE.key or s.samples > 0
        losses = "-" if versus else (", ".join(s.losses) or "none")
        gains = "-" if versus else str(len(s.gains))
        lines.append(
            f"| {s.label} | {s.gateway} | {s.problems} | {_pass_cell(s)} |"
            f" {s.candidates_per_problem:.2f} | {s.tokens_per_problem:,.0f} |"
            f" {s.wall_mean_s:.2f} | {s.wall_p90_s:.2f} | {s.errors} | {losses} | {gains} |"
        )
    notes = [_oracle_note(s) for s in summaries if s.samples > 0]
    return "\n".join(lines + ([""] if notes else []) + notes)


def _pass_cell(s: Summary) -> str:
    if s.oracle_pass_at_k is None:
        return f"{100 * s.pass_at_1:.1f}%"
    return f"{100 * s.oracle_pass_at_k:.1f}% (raw {100 * s.pass_at_1:.1f}%)"


def _oracle_note(s: Summary) -> str:
    return (
        f"*{s.label}*: {s.passed} of {s.problems} problems had at least one of {s.samples}"
        f" plain samples ({s.gateway}) pass the hidden tests; raw pass@1 of sampling"
        f" {100 * s.pass_at_1:.1f}% ({s.samples_passed} of {s.samples * s.problems} samples)."
        " An oracle: it picks with the hidden tests, so it bounds any way of choosing one of"
        f" those {s.samples} samples and is no setting a client gets; candidates, tokens and"
        f" wall are per problem, summed over the {s.samples} requests."
    )


def section(info: RunInfo, summaries: Sequence[Summary], image: str) -> str:
    name = {"humaneval": "HumanEval", "mbpp": "MBPP"}.get(info.dataset, info.dataset)
    head = (
        f"### {name}: problems {info.start}..{info.stop - 1} ({info.stop - info.start} of"
        f" {info.total}), model `{info.model}`, gateway {info.gateway}, max_tokens"
        f" {info.max_tokens} ({info.date}, {info.cpus} CPUs)"
    )
    return f"{head}\n\n{table(summaries)}\n\n![pass@1 against candidates, {name}]({image})\n"


def plot(summaries: Sequence[Summary], path: Path, title: str) -> None:
    """pass@1 against candidates per problem, one labelled point per setting; the oracle
    of plain sampling (its oracle pass@K) as a hollow marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    xs = _plot_settings(axes, [s for s in summaries if s.samples == 0])
    xs += _plot_oracles(axes, [s for s in summaries if s.samples > 0])
    axes.set_xlabel("candidates per problem")
    axes.set_ylabel("pass@1 (%); oracle: pass@K")
    axes.set_ylim(0, 105)
    axes.set_xlim(0, 1.3 * max(xs, default=1.0) + 0.5)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_settings(axes: Any, summaries: Sequence[Summary]) -> list[float]:
    points: dict[tuple[float, float], list[str]] = {}
    for s in summaries:  # settings at the same point share one label
        point = (round(s.candidates_per_problem, 3), round(100 * s.pass_at_1, 3))
        points.setdefault(point, []).append(s.label)
    for (x, y), labels in points.items():
        alone = MODEL_ALONE.label in labels
        axes.scatter([x], [y], marker="s" if alone else "o", s=40, color="C1" if alone else "C0")
        _label(axes, x, y, "\n".join(labels))
    return [x for x, _ in points]


def _plot_oracles(axes: Any, summaries: Sequence[Summary]) -> list[float]:
    for s in summaries:
        x, y = s.candidates_per_problem, 100 * s.score
        axes.scatter([x], [y], marker="D", s=50, facecolors="none", edgecolors="C2")
        text = f"{s.label}\n(raw pass@1 {100 * s.pass_at_1:.1f}%)"
        _label(axes, x, y, text, below=True)  # clear of a best-of-k label at the same point
    if summaries:
        axes.scatter([], [], marker="D", facecolors="none", edgecolors="C2", label=ORACLE_LEGEND)
        axes.legend(loc="lower right", fontsize=8)
    return [s.candidates_per_problem for s in summaries]


def _label(axes: Any, x: float, y: float, text: str, below: bool = False) -> None:
    offset, align = ((5, -6), "top") if below else ((5, 3), "baseline")
    axes.annotate(text, (x, y), fontsize=8, xytext=offset, textcoords="offset points", va=align)


def write_report(info: RunInfo, summaries: Sequence[Summary], doc: Path) -> Path:
    """The PNG into <doc's folder>/img/live_<dataset>.png and the table into `doc`,
    between `<!-- live-<dataset>:start -->` and `:end -->`; returns the PNG's path."""
    image = doc.parent / "img" / f"live_{info.dataset}.png"
    plot(summaries, image, f"{info.dataset}, {info.stop - info.start} problems, {info.model}")
    rel = image.relative_to(doc.parent).as_posix()
    write_section(f"live-{info.dataset}", section(info, summaries, rel), doc)
    return image
