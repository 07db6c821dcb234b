"""`atlas bench live` arguments and the refusals that come before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import build_parser
from bench.live import main, results_path
from bench.live_client import MODEL_ALONE, Reply, Setting, oracle_setting
from bench.live_data import humaneval_problems
from bench.live_grade import Grade
from bench.live_results import Results, make_row
from bench.live_run import RunSpec
from tests.conftest import free_port


def test_live_is_an_atlas_bench_subcommand() -> None:
    args = build_parser().parse_args(["live", "--dataset", "mbpp", "--k", "5,1,5"])
    assert args.func.__name__ == "run_live_bench"
    assert (args.k, args.repair, args.start, args.limit) == ((1, 5), (0,), None, None)
    assert (args.base_url, args.resume, args.max_tokens) == (None, False, 768)
    assert (args.oracle, args.oracle_temperature) == (None, 0.6)


def test_the_oracle_comes_last_with_its_temperature(tmp_path: Path) -> None:
    argv = ["live", "--dataset", "humaneval", "--oracle", "5", "--oracle-temperature", "0.8"]
    args = build_parser().parse_args(argv)
    spec = RunSpec.from_args(args, humaneval_problems()[:2], tmp_path / "run.jsonl")
    assert spec.settings == [MODEL_ALONE, Setting(k=5), oracle_setting(5, 0.8)]
    plain = build_parser().parse_args(["live", "--dataset", "humaneval"])
    assert not any(s.oracle for s in RunSpec.from_args(plain, [], tmp_path / "r").settings)


@pytest.mark.parametrize(
    "bad",
    [
        ["--k", "0,1"],
        ["--repair", "-1"],
        ["--k", "five"],
        ["--oracle", "0"],
        ["--oracle", "2.5"],
        ["--oracle", "5", "--oracle-temperature", "0"],
        ["--oracle", "5", "--oracle-temperature", "hot"],
    ],
)
def test_bad_lists_are_refused(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["live", "--dataset", "humaneval", *bad])
    assert exit_.value.code == 2


def test_mbpp_below_200_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["--dataset", "mbpp", "--start", "100", "--limit", "5", "--out", str(tmp_path)])
    assert code == 2
    assert "held out" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_an_existing_results_file_needs_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = results_path(tmp_path, "humaneval", 0, 2)
    assert path == tmp_path / "humaneval-0-2.jsonl"
    assert results_path(tmp_path, "mbpp", 200, None).name == "mbpp-200-all.jsonl"
    path.write_text("")
    code = main(["--dataset", "humaneval", "--limit", "2", "--out", str(tmp_path)])
    assert code == 2
    assert "--resume" in capsys.readouterr().err


def test_a_finished_run_resumed_only_rewrites_its_report(tmp_path: Path) -> None:
    problems = humaneval_problems()[:2]
    results = Results(results_path(tmp_path, "humaneval", 0, 2))
    for problem, passed in zip(problems, (True, False), strict=True):
        reply = Reply(status=200, wall_s=2.0, tokens=50, headers={"x-atlas-k": "1"})
        results.add(make_row(problem, MODEL_ALONE, "qwen", reply, Grade(passed=passed)))
    results.close()
    doc = tmp_path / "benchmarks.md"
    dead = f"http://127.0.0.1:{free_port()}"  # nothing is pending: never contacted
    argv = ["--dataset", "humaneval", "--limit", "2", "--k", "1", "--resume", "--base-url", dead]
    assert main([*argv, "--out", str(tmp_path), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "model `qwen`" in text and "| model alone | pass-through | 2 | 50.0% |" in text
    assert (tmp_path / "img" / "live_humaneval.png").exists()
