"""The difficulty signals and their weighted mean (docs/routing.md)."""

from __future__ import annotations

import time

import pytest

from config import RouterSettings
from config.strategy import DifficultyWeights
from gateway.strategies.router.difficulty import (
    NEUTRAL,
    Signals,
    complexity,
    difficulty,
    difficulty_bin,
    verifiability,
)


def test_more_trusted_tests_mean_less_difficulty() -> None:
    assert verifiability("none", 0) == 1.0
    assert verifiability("prompt", 1) == pytest.approx(0.54)
    assert verifiability("request", 1) == pytest.approx(0.34)
    assert verifiability("request", 5) == pytest.approx(0.10)
    assert verifiability("request+prompt", 9) == 0.0


def test_complexity_grows_with_length_code_and_constraints() -> None:
    short = complexity("Add two numbers.")
    coded = complexity("```python\ndef add(a, b):\n    pass\n```\nimport math")
    constrained = complexity(
        "You must do it in-place, at most O(n) time, without extra memory; n <= 10^5; "
        "handle every edge case; exactly one pass; should not allocate"
    )
    long = complexity("word " * 4000)
    assert short < 0.1
    assert coded > short and constrained > short and long >= 0.5
    assert complexity("def f(" * 100_000 + "must " * 100_000) <= 1.0


def test_complexity_is_linear_on_hostile_text() -> None:
    started = time.perf_counter()
    complexity("<=" * 5_000_000)
    complexity("a" * 10_000_000)
    assert time.perf_counter() - started < 1.0


def test_difficulty_is_the_weighted_mean() -> None:
    settings = RouterSettings()
    signals = Signals(familiarity=1.0, verifiability=0.0, complexity=0.5)
    assert difficulty(signals, settings) == pytest.approx(0.30 + 0.20 * 0.5 + 0.25 * NEUTRAL)
    only_familiarity = RouterSettings(
        weights=DifficultyWeights(familiarity=2, verifiability=0, complexity=0, lens=0)
    )
    assert difficulty(signals, only_familiarity) == 1.0


def test_bins_cover_zero_to_one() -> None:
    assert [difficulty_bin(d, 4) for d in (0.0, 0.24, 0.25, 0.99, 1.0)] == [0, 0, 1, 3, 3]
