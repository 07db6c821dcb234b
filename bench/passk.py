"""The unbiased pass@k estimator (Chen et al., 2021) and figures over a pass matrix.

A pass matrix maps each problem id to one bool per sample: did that sample pass the
problem's hidden tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n - c, k) / C(n, k): the chance that k of n samples, drawn without
    replacement, include at least one of the c correct ones."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1, got n={n} c={c} k={k}")
    if k > n:
        raise ValueError(f"pass_at_k: k={k} exceeds the {n} samples")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def mean_pass_at_k(matrix: Mapping[str, Sequence[bool]], k: int) -> float:
    """pass@k averaged over the problems of a pass matrix."""
    if not matrix:
        raise ValueError("mean_pass_at_k: empty pass matrix")
    return sum(pass_at_k(len(row), sum(row), k) for row in matrix.values()) / len(matrix)


def raw_pass_at_1(matrix: Mapping[str, Sequence[bool]]) -> float:
    """The mean over problems of each problem's fraction of passing samples."""
    return mean_pass_at_k(matrix, 1)


def mixed_problems(matrix: Mapping[str, Sequence[bool]]) -> int:
    """Problems where some samples pass and some fail: the only ones selection can change."""
    return sum(1 for row in matrix.values() if any(row) and not all(row))
