"""The selection bench's pure parts: arguments, dataset shortcuts, per-k summaries."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.selection import _ks, add_bench_selection_command, resolve_dataset
from bench.selection_report import Outcome, docs_section, rows_table, summarise

MATRIX = {"p1": [True, False, False, False], "p2": [False, False, True, True]}


def outcome(problem: str, seed: int, passed: bool, size: int, **headers: str) -> Outcome:
    return Outcome(
        problem=problem,
        k=size,
        repeat=seed // size,
        seed=seed,
        passed=passed,
        latency_s=0.5,
        tokens=10,
        headers={f"x-atlas-{name.replace('_', '-')}": v for name, v in headers.items()},
    )


def test_arguments_parse_as_the_gateway_cli_mounts_them() -> None:
    parser = argparse.ArgumentParser(prog="atlas bench")
    add_bench_selection_command(parser.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(["selection", "--dataset", "codet-a", "--k", "10,1,5,5"])
    assert args.k == (1, 5, 10)
    assert args.func.__name__ == "run_selection_bench"
    assert (args.repeats, args.limit, args.gateway_url, args.model) == (1, None, None, "replay")
    with pytest.raises(argparse.ArgumentTypeError):
        _ks("0,1")
    with pytest.raises(argparse.ArgumentTypeError):
        _ks("one")


def test_dataset_shortcuts_and_cache_paths(tmp_path: Path) -> None:
    path, cache = resolve_dataset(str(tmp_path / "mine.jsonl"), tmp_path)
    assert (path, cache) == (tmp_path / "mine.jsonl", tmp_path / "mine.jsonl.passmatrix.jsonl")
    (tmp_path / "codet_humaneval_b.jsonl").write_text("{}\n")  # present: not converted again
    path, cache = resolve_dataset("codet-b", tmp_path)
    assert path == tmp_path / "codet_humaneval_b.jsonl" and path.read_text() == "{}\n"
    assert cache == tmp_path / "codet_humaneval.passmatrix.jsonl"  # shared by both variants


def test_summary_of_an_active_best_of_k() -> None:
    outcomes = [
        outcome("p1", 0, True, 2, k="2", candidates="2", verified="1", selection="tests"),
        outcome("p2", 0, False, 2, k="2", candidates="1", verified="0", selection="fallback"),
        outcome("p2", 2, True, 2, k="2", candidates="2", verified="2", selection="tests"),
    ]
    row = summarise(2, outcomes, MATRIX, wall_s=3.0)
    assert row["status"] == "active"
    assert row["atlas_pass_at_1"] == pytest.approx(2 / 3)
    assert row["raw_pass_at_1"] == pytest.approx((0.25 + 0.5) / 2)
    assert row["oracle_pass_at_k"] == pytest.approx((0.5 + 5 / 6) / 2)
    # Seeds 0,1 reach p1's right sample and none of p2's; seeds 2,3 reach two of p2's.
    assert row["oracle_offered"] == pytest.approx(2 / 3)
    assert row["first_offered"] == pytest.approx(2 / 3)
    assert (row["candidates"], row["verified"], row["tokens"]) == (5, 3, 30)
    assert row["selection"] == {"tests": 2, "fallback": 1}
    assert "(pending)" not in rows_table([row])


def test_missing_headers_mark_the_row_pending_and_errors_fail() -> None:
    outcomes = [
        outcome("p1", 0, True, 4),
        Outcome(problem="p2", k=4, repeat=0, seed=0, passed=False, latency_s=1.0, error="boom"),
    ]
    row = summarise(4, outcomes, MATRIX, wall_s=1.0)
    assert row["status"] == "pending (x-atlas-k missing)"
    assert (row["errors"], row["candidates"], row["atlas_pass_at_1"]) == (1, 1, 0.5)
    assert row["oracle_pass_at_k"] == 1.0 and row["oracle_offered"] == 1.0
    assert "50.0% (pending)" in rows_table([row])
    once = summarise(2, [outcome("p1", 0, True, 2, k="1")], MATRIX, wall_s=1.0)
    assert once["status"] == "pending (x-atlas-k 1)"
    assert summarise(8, [outcome("p1", 0, True, 8)], MATRIX, 1.0)["oracle_pass_at_k"] is None
    result = {
        "dataset": "codet-a",
        "repeats": 1,
        "gateway": "in-process",
        "date": "today",
        "cpus": 2,
        "rows": [row],
        "baseline": {
            "problems": 2,
            "samples_per_problem": 4,
            "mixed_problems": 2,
            "oracle_pass_at_k": {"1": 0.375, "2": 2 / 3},
        },
    }
    section = docs_section([result])
    assert "| codet-a | 2 | 4 | 37.5% | 66.7% | - | - | - | 2 |" in section
    assert "*pending*" in section


def test_the_gateway_gets_the_dataset_without_hidden_tests(tmp_path: Path) -> None:
    from bench.local_gateway import strip_hidden_tests

    source, served = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        '{"id": "a", "samples": ["x"], "hidden_tests": "assert f()"}\n\n'
        '{"id": "b", "samples": ["y"]}\n'
    )
    strip_hidden_tests(source, served)
    assert served.read_text() == '{"id": "a", "samples": ["x"]}\n{"id": "b", "samples": ["y"]}\n'
