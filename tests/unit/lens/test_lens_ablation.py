import json
from pathlib import Path

import pytest
import torch

from lens.ablation import fold_problems, load_pool, run_ablation, write_pool
from lens.cli import main
from lens.report import summarize, write_report
from lens.settings import LensSettings
from lens.synthetic import synthetic_examples

torch.set_num_threads(1)


def test_folds_partition_problems() -> None:
    problems = [f"p{i}" for i in range(23)] * 2
    folds = fold_problems(problems, 5, seed=0)
    assert len(folds) == 5
    assert set().union(*folds) == set(problems)
    assert sum(len(f) for f in folds) == 23


def test_pool_round_trip(tmp_path: Path) -> None:
    examples = synthetic_examples(3, 2, 8)
    write_pool(tmp_path / "pool.jsonl", examples)
    loaded = load_pool(tmp_path / "pool.jsonl")
    assert [(e.problem_id, e.passed, e.embedding) for e in loaded] == [
        (e.problem_id, e.passed, e.embedding) for e in examples
    ]


def test_pool_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text('{"problem_id": "a", "passed": true, "embedding": [1.0]}\n{"passed": 1}\n')
    with pytest.raises(ValueError, match=r"pool\.jsonl:2"):
        load_pool(path)


def test_ablation_on_synthetic_pool_beats_random(tmp_path: Path) -> None:
    settings = LensSettings(dim=16, hidden=(32, 16), epochs=20)
    results, curve = run_ablation(synthetic_examples(50, 8, 16, separation=3.0), settings, folds=3)
    summary = summarize(results)
    assert summary.problems == 50 and len(curve) == 20
    assert summary.auc_mean > 0.8
    assert summary.mixed_lens - summary.mixed_random > 0.2
    assert summary.mixed_worst < summary.mixed_random
    report = write_report(tmp_path, "synthetic", settings, results, curve)
    on_disk = json.loads((tmp_path / "ablation.json").read_text())
    assert on_disk["summary"] == report["summary"]
    assert len(on_disk["learning_curve"]) == 20


def test_bench_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = tmp_path / "pool.jsonl"
    assert (
        main(
            [
                "lens",
                "synth-pool",
                "--out",
                str(pool),
                "--problems",
                "30",
                "--per-problem",
                "6",
                "--dim",
                "8",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "bench",
                "lens",
                "--dataset",
                str(pool),
                "--out",
                str(tmp_path / "r"),
                "--folds",
                "3",
                "--epochs",
                "3",
                "--metric",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "r" / "ablation.json").read_text())["summary"]
    assert summary["folds"] == 3 and summary["metric_auc_mean"] is not None
