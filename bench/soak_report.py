"""The soak benchmark's figures: samples into 10-second windows, the verdict against
its targets, the plot and the docs section. Pure functions over plain data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Targets of a soak run.
MAX_RSS_GROWTH_PCT = 10.0
MAX_P99_DRIFT = 1.5  # the last third's median p99 at most this times the first third's
# Kinds whose latency the client sets (a slow reader): counted, not in the percentiles.
CLIENT_PACED = frozenset({"slow"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it ended (s from the start), its kind, latency, success."""

    end_s: float
    kind: str
    latency_s: float
    ok: bool


@dataclass(frozen=True, slots=True)
class Window:
    start_s: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float


@dataclass(frozen=True, slots=True)
class Verdict:
    requests: int
    errors: int
    rss_first_mb: float
    rss_last_mb: float
    rss_growth_pct: float
    p99_first_ms: float
    p99_last_ms: float

    @property
    def p99_stable(self) -> bool:
        return self.p99_last_ms <= MAX_P99_DRIFT * max(self.p99_first_ms, 1.0)

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.rss_growth_pct < MAX_RSS_GROWTH_PCT and self.p99_stable


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def windows(
    samples: Sequence[Sample], rss_mb: Sequence[float], window_s: float = 10.0
) -> list[Window]:
    """One Window per `window_s` of the run; `rss_mb[i]` is the RSS at the end of window i.
    Latency percentiles are of the successful requests the gateway paces (not slow readers)."""
    result = []
    for i, rss in enumerate(rss_mb):
        start, end = i * window_s, (i + 1) * window_s
        inside = [s for s in samples if start <= s.end_s < end]
        latencies = [1000 * s.latency_s for s in inside if s.ok and s.kind not in CLIENT_PACED]
        result.append(
            Window(
                start_s=start,
                requests=len(inside),
                rps=len(inside) / window_s,
                p50_ms=percentile(latencies, 50),
                p99_ms=percentile(latencies, 99),
                errors=sum(not s.ok for s in inside),
                rss_mb=rss,
            )
        )
    return result


def _median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def verdict(run: Sequence[Window]) -> Verdict:
    """Errors over the run; RSS growth from the end of the first window (the warm-up) to
    the end of the last; p99 of the first third against the last third (medians)."""
    if not run:
        raise ValueError("a soak run with no windows")
    third = max(1, len(run) // 3)
    first, last = run[0].rss_mb, run[-1].rss_mb
    return Verdict(
        requests=sum(w.requests for w in run),
        errors=sum(w.errors for w in run),
        rss_first_mb=first,
        rss_last_mb=last,
        rss_growth_pct=100 * (last - first) / first if first else 0.0,
        p99_first_ms=_median([w.p99_ms for w in run[:third]]),
        p99_last_ms=_median([w.p99_ms for w in run[-third:]]),
    )


def plot(run: Sequence[Window], path: Path, title: str) -> None:
    """Throughput, p99 and RSS against time, one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [(w.start_s + 10) / 60 for w in run]
    figure, axes = plt.subplots(3, 1, figsize=(7, 6), dpi=100, sharex=True)
    for ax, ys, label in zip(
        axes,
        ([w.rps for w in run], [w.p99_ms for w in run], [w.rss_mb for w in run]),
        ("requests/s", "p99 (ms)", "RSS (MB)"),
        strict=True,
    ):
        ax.plot(xs, ys, marker=".")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1.15 * max(ys, default=0.0) or 1.0)
    axes[-1].set_xlabel("minutes")
    axes[0].set_title(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def section(run: Sequence[Window], result: Verdict, header: str, image: str) -> str:
    """The docs section: how it was run, the targets and where this run stands, a table."""

    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    rows = "\n".join(
        f"| {w.start_s:.0f} | {w.rps:.1f} | {w.p50_ms:.0f} | {w.p99_ms:.0f} | {w.errors} "
        f"| {w.rss_mb:.0f} |"
        for w in run
    )
    return f"""{header}

| target | this run | |
|---|---|---|
| zero errors | {result.errors} errors in {result.requests} requests | {mark(result.errors == 0)} |
| RSS growth < {MAX_RSS_GROWTH_PCT:g} % | {result.rss_first_mb:.0f} -> {result.rss_last_mb:.0f} MB \
({result.rss_growth_pct:+.1f} %) | {mark(result.rss_growth_pct < MAX_RSS_GROWTH_PCT)} |
| p99 stable (last third <= {MAX_P99_DRIFT:g} x first) | {result.p99_first_ms:.0f} -> \
{result.p99_last_ms:.0f} ms | {mark(result.p99_stable)} |

![soak]({image})

| window start (s) | requests/s | p50 (ms) | p99 (ms) | errors | RSS (MB) |
|---|---|---|---|---|---|
{rows}
"""


__all__ = ["Sample", "Verdict", "Window", "percentile", "plot", "section", "verdict", "windows"]
