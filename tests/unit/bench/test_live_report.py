"""The live bench's figures: per-setting summaries, the markdown table, the doc and PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.live_client import MODEL_ALONE, Reply, Setting, oracle_setting
from bench.live_data import humaneval_problems
from bench.live_grade import Grade
from bench.live_report import (
    ORACLE_LEGEND,
    RunInfo,
    _plot_oracles,
    gateway_status,
    p90,
    summarise,
    table,
    write_report,
)
from bench.live_results import Row, make_row, make_sample, oracle_row

PROBLEMS = humaneval_problems()[:4]
BEST_OF_5 = Setting(k=5)
ORACLE = oracle_setting(5)
INFO = RunInfo(
    dataset="humaneval",
    start=0,
    stop=4,
    total=164,
    model="qwen2.5-coder-0.5b",
    gateway="embedded default",
    date="2026-12-01",
    cpus=2,
    max_tokens=768,
)


def rows(setting: Setting, passed: list[bool | None], **headers: str) -> list[Row]:
    """One row per problem; None is a failed request."""
    out = []
    for problem, ok in zip(PROBLEMS, passed, strict=True):
        if ok is None:
            reply = Reply(status=502, wall_s=9.0, error="HTTP 502: down")
            out.append(make_row(problem, setting, "m", reply, None))
            continue
        reply = Reply(status=200, wall_s=float(problem.index + 1), tokens=100, headers=headers)
        out.append(make_row(problem, setting, "m", reply, Grade(passed=ok)))
    return out


def oracle_rows(passes: list[int | None]) -> list[Row]:
    """One oracle row per problem whose first `c` of 5 samples pass; None: seed 4 failed."""
    out = []
    for problem, c in zip(PROBLEMS, passes, strict=True):
        samples = []
        for seed in range(5):
            if c is None and seed == 4:
                reply = Reply(status=502, wall_s=1.0, error="HTTP 502: down")
                samples.append(make_sample(seed, reply, None))
                continue
            reply = Reply(status=200, wall_s=2.0, tokens=100, headers={"x-atlas-route": "fast"})
            samples.append(make_sample(seed, reply, Grade(passed=seed < (c or 0))))
        out.append(oracle_row(problem, ORACLE, "m", samples))
    return out


def test_p90_is_the_nearest_rank() -> None:
    assert p90([]) == 0.0
    assert p90([3.0]) == 3.0
    assert p90([float(v) for v in range(1, 11)]) == 9.0
    assert p90([1.0, 2.0, 3.0, 4.0]) == 4.0


def test_a_summary_counts_passes_costs_and_losses_against_the_model_alone() -> None:
    alone = rows(MODEL_ALONE, [True, True, False, False])
    best = rows(
        BEST_OF_5, [True, False, True, None], **{"x-atlas-k": "5", "x-atlas-candidates": "5"}
    )
    s = summarise(BEST_OF_5, best, alone)
    assert (s.problems, s.passed, s.errors) == (4, 2, 1)
    assert s.pass_at_1 == pytest.approx(0.5)
    assert s.candidates_per_problem == pytest.approx(5.0)  # over the 3 answered
    assert s.tokens_per_problem == pytest.approx(100.0)
    assert s.wall_mean_s == pytest.approx((1 + 2 + 3 + 9) / 4)
    assert s.wall_p90_s == pytest.approx(9.0)
    assert s.losses == ["HumanEval/1"] and s.gains == ["HumanEval/2"]
    assert s.gateway == "best-of-k"
    base = summarise(MODEL_ALONE, alone, alone)
    assert (base.pass_at_1, base.candidates_per_problem, base.losses) == (0.5, 1.0, [])


def test_the_status_says_when_the_gateway_ignored_a_setting() -> None:
    assert gateway_status(MODEL_ALONE, rows(MODEL_ALONE, [True] * 4)) == "pass-through"
    ignored = rows(BEST_OF_5, [True] * 4, **{"x-atlas-k": "1"})
    assert gateway_status(BEST_OF_5, ignored) == "pending (x-atlas-k 1)"
    repair = Setting(k=1, repair=1)
    assert gateway_status(repair, rows(repair, [True] * 4)) == "pass-through; repair not reported"
    reported = rows(repair, [True] * 4, **{"x-atlas-repair-rounds": "1"})
    assert gateway_status(repair, reported) == "pass-through"


def test_the_table_lists_every_setting_with_its_losses() -> None:
    alone = rows(MODEL_ALONE, [True, True, False, False])
    best = rows(
        BEST_OF_5, [True, False, True, True], **{"x-atlas-k": "5", "x-atlas-candidates": "5"}
    )
    text = table([summarise(MODEL_ALONE, alone, alone), summarise(BEST_OF_5, best, alone)])
    lines = text.splitlines()
    assert lines[0].startswith("| setting | gateway | problems | pass@1 |")
    assert lines[2].startswith("| model alone | pass-through | 4 | 50.0% | 1.00 | 100 |")
    assert lines[3].startswith("| k=5, repair=0 | best-of-k | 4 | 75.0% | 5.00 | 100 |")
    assert lines[3].endswith("| 0 | HumanEval/1 | 2 |")


def test_the_report_goes_between_its_markers_and_the_plot_beside_it(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(
        "# Benchmarks\n\n<!-- live-humaneval:start -->\nold\n<!-- live-humaneval:end -->\n\nkept\n"
    )
    alone = rows(MODEL_ALONE, [True, False, False, False])
    best = rows(
        BEST_OF_5, [True, True, False, False], **{"x-atlas-k": "5", "x-atlas-candidates": "5"}
    )
    oracle = summarise(ORACLE, oracle_rows([1, 0, 0, 2]), alone)
    summaries = [summarise(MODEL_ALONE, alone, alone), summarise(BEST_OF_5, best, alone), oracle]
    image = write_report(INFO, summaries, doc)
    assert image == tmp_path / "docs" / "img" / "live_humaneval.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 5000
    text = doc.read_text()
    assert "old" not in text and text.endswith("\n\nkept\n")
    block = text.split("<!-- live-humaneval:start -->")[1].split("<!-- live-humaneval:end -->")[0]
    assert "### HumanEval: problems 0..3 (4 of 164), model `qwen2.5-coder-0.5b`" in block
    assert "| k=5, repair=0 | best-of-k | 4 | 50.0% |" in block
    assert "| plain sampling, oracle pass@5 | pass-through, t=0.6, seeds 0..4 | 4 | 50.0%" in block
    assert "![pass@1 against candidates, HumanEval](img/live_humaneval.png)" in block
    write_report(INFO, summaries, doc)  # again: replaced in place, not appended
    assert doc.read_text() == text


def test_the_oracle_counts_c_of_k_and_is_kept_out_of_losses() -> None:
    alone = rows(MODEL_ALONE, [True, True, False, False])
    s = summarise(ORACLE, oracle_rows([1, 0, 5, 2]), alone)
    assert (s.setting, s.label, s.samples, s.problems, s.passed) == (
        "oracle5-t0.6",
        "plain sampling, oracle pass@5",
        5,
        4,
        3,
    )
    assert s.oracle_pass_at_k == pytest.approx(0.75) and s.score == pytest.approx(0.75)
    assert s.pass_at_1 == pytest.approx((1 + 0 + 5 + 2) / 20)  # raw pass@1 of sampling
    assert s.samples_passed == 8
    assert (s.candidates_per_problem, s.tokens_per_problem) == (5.0, 500.0)
    assert (s.wall_mean_s, s.errors) == (10.0, 0)
    assert (s.losses, s.gains) == ([], [])  # HumanEval/1: solved alone, by no sample
    assert s.gateway == "pass-through, t=0.6, seeds 0..4"
    base = summarise(MODEL_ALONE, alone, alone)
    assert (base.samples, base.oracle_pass_at_k, base.score) == (0, None, 0.5)


def test_an_oracle_problem_with_a_failed_sample_is_an_error_and_costs_are_summed() -> None:
    s = summarise(ORACLE, oracle_rows([1, None, 0, 0]), [])
    assert (s.errors, s.passed, s.samples_passed) == (1, 1, 1)
    assert s.pass_at_1 == pytest.approx(1 / 20)
    assert s.candidates_per_problem == 5.0  # over the 3 answered problems
    assert s.wall_mean_s == pytest.approx((10.0 + 9.0 + 10.0 + 10.0) / 4)


def test_the_table_shows_the_oracle_row_apart_from_losses_with_its_raw_rate() -> None:
    alone = rows(MODEL_ALONE, [True, True, False, False])
    oracle = summarise(ORACLE, oracle_rows([1, 0, 5, 2]), alone)
    text = table([summarise(MODEL_ALONE, alone, alone), oracle])
    lines = text.splitlines()
    row = (
        "| plain sampling, oracle pass@5 | pass-through, t=0.6, seeds 0..4 | 4 | 75.0% (raw 40.0%)"
    )
    assert lines[3].startswith(f"{row} | 5.00 | 500 | 10.00 | 10.00 | 0 |")
    assert lines[3].endswith("| 0 | - | - |")
    assert lines[4] == ""
    assert lines[5].startswith("*plain sampling, oracle pass@5*: 3 of 4 problems had at least")
    assert "raw pass@1 of sampling 40.0% (8 of 20 samples)" in lines[5]
    assert len(table([summarise(MODEL_ALONE, alone, alone)]).splitlines()) == 3


class Axes:
    """Records what the plot draws."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def __getattr__(self, name: str) -> object:
        def record(*args: object, **kwargs: object) -> None:
            self.calls.append((name, args, kwargs))

        return record


def test_the_plot_draws_the_oracle_hollow_at_k_candidates_and_pass_at_k() -> None:
    axes = Axes()
    oracle = summarise(ORACLE, oracle_rows([1, 0, 5, 2]), [])
    assert _plot_oracles(axes, [oracle]) == [5.0]
    scatters = [(args, kwargs) for name, args, kwargs in axes.calls if name == "scatter"]
    (point, style), (_, legend) = scatters
    assert point == ([5.0], [75.0]) and style["facecolors"] == "none"
    assert legend["label"] == ORACLE_LEGEND and legend["facecolors"] == "none"
    notes = [args[0] for name, args, _ in axes.calls if name == "annotate"]
    assert notes == ["plain sampling, oracle pass@5\n(raw pass@1 40.0%)"]
    assert any(name == "legend" for name, _, _ in axes.calls)
    empty = Axes()
    assert _plot_oracles(empty, []) == [] and empty.calls == []
