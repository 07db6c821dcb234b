"""The live bench's results file: append as you go, resume from what is there."""

from __future__ import annotations

from pathlib import Path

from bench.live_client import MODEL_ALONE, Reply, Setting, oracle_setting
from bench.live_data import humaneval_problems
from bench.live_grade import Grade
from bench.live_results import Results, make_row, make_sample, oracle_row

PROBLEMS = humaneval_problems()[:3]
BEST_OF_5 = Setting(k=5)


def answered(passed: bool) -> tuple[Reply, Grade]:
    reply = Reply(status=200, wall_s=1.0, content="x", headers={"x-atlas-candidates": "5"})
    return reply, Grade(passed=passed, exit_code=0 if passed else 1)


def failed() -> Reply:
    return Reply(status=502, wall_s=0.2, error="HTTP 502: upstream down")


def test_rows_survive_a_reload_and_resume_skips_only_answered_ones(tmp_path: Path) -> None:
    path = tmp_path / "out" / "run.jsonl"
    results = Results(path)
    results.add(make_row(PROBLEMS[0], MODEL_ALONE, "m", *answered(True)))
    results.add(make_row(PROBLEMS[0], BEST_OF_5, "m", *answered(False)))
    results.add(make_row(PROBLEMS[1], MODEL_ALONE, "m", failed(), None))
    results.close()
    again = Results.load(path)
    assert again.done(MODEL_ALONE, PROBLEMS[0]) and again.done(BEST_OF_5, PROBLEMS[0])
    assert not again.done(MODEL_ALONE, PROBLEMS[1])  # a failed request is retried
    assert not again.done(MODEL_ALONE, PROBLEMS[2])
    row = again.rows[("k5-r0", "HumanEval/0")]
    assert (row.passed, row.candidates, row.grade) == (False, 5, Grade(passed=False, exit_code=1))
    failure = again.rows[("k1-r0", "HumanEval/1")]
    assert (failure.passed, failure.status, failure.candidates) == (False, 502, 0)
    assert failure.error == "HTTP 502: upstream down"


def test_a_later_line_wins_and_rows_come_back_in_problem_order(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    results = Results(path)
    results.add(make_row(PROBLEMS[1], MODEL_ALONE, "m", failed(), None))
    results.add(make_row(PROBLEMS[0], MODEL_ALONE, "m", *answered(False)))
    results.add(make_row(PROBLEMS[1], MODEL_ALONE, "m", *answered(True)))
    results.close()
    again = Results.load(path)
    assert again.done(MODEL_ALONE, PROBLEMS[1])
    rows = again.of(MODEL_ALONE, PROBLEMS)
    assert [(r.task_id, r.passed) for r in rows] == [("HumanEval/0", False), ("HumanEval/1", True)]
    assert again.of(BEST_OF_5, PROBLEMS) == []


def test_a_line_cut_by_a_killed_run_is_skipped_and_never_glued_to_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    results = Results(path)
    results.add(make_row(PROBLEMS[0], MODEL_ALONE, "m", *answered(True)))
    results.close()
    with path.open("ab") as handle:
        handle.write(b'{"dataset": "humaneval", "task_id": "HumanEval/1", "sett')
    resumed = Results.load(path)
    assert list(resumed.rows) == [("k1-r0", "HumanEval/0")]
    resumed.add(make_row(PROBLEMS[1], MODEL_ALONE, "m", *answered(True)))
    resumed.close()
    final = Results.load(path)
    assert final.done(MODEL_ALONE, PROBLEMS[0]) and final.done(MODEL_ALONE, PROBLEMS[1])
    assert len(path.read_bytes().splitlines()) == 3


def test_an_oracle_line_sums_its_samples_and_passes_when_any_sample_does(tmp_path: Path) -> None:
    oracle = oracle_setting(3)
    samples = [
        make_sample(0, Reply(status=200, wall_s=1.0, tokens=10, content="a"), Grade(passed=False)),
        make_sample(1, Reply(status=200, wall_s=2.0, tokens=20, content="b"), Grade(passed=True)),
        make_sample(2, Reply(status=200, wall_s=4.0, tokens=30, content="c"), Grade(passed=False)),
    ]
    row = oracle_row(PROBLEMS[0], oracle, "m", samples)
    assert (row.setting, row.k, row.repair, row.passed, row.passes) == (
        "oracle3-t0.6",
        1,
        0,
        True,
        1,
    )
    assert (row.wall_s, row.tokens, row.candidates, row.status, row.error) == (
        7.0,
        60,
        3,
        200,
        None,
    )
    none = oracle_row(PROBLEMS[1], oracle, "m", [samples[0], samples[2]])
    assert (none.passed, none.passes) == (False, 0)
    results = Results(tmp_path / "run.jsonl")
    results.add(row)
    results.close()
    again = Results.load(tmp_path / "run.jsonl").rows[("oracle3-t0.6", "HumanEval/0")]
    assert again.samples == samples and again.passes == 1
    assert again.samples[1].grade == Grade(passed=True)
