"""Synthetic labelled pools: a known 'correctness direction' plus per-problem offsets.

Used by the tests, the scoring benchmark and the ablation's self-check; the
separation (in noise standard deviations along the direction) sets how hard it is.
"""

from __future__ import annotations

import torch

from lens.records import Example
from lens.settings import TestSource


def synthetic_examples(
    n_problems: int,
    per_problem: int,
    dim: int,
    *,
    separation: float = 4.0,
    spread: float = 1.0,
    seed: int = 0,
    source: TestSource = "request",
    prefix: str = "p",
) -> list[Example]:
    """Examples whose embedding is problem offset + noise +/- separation/2 along one axis.

    Each problem has its own pass rate drawn from U(0.1, 0.9), so most problems
    are mixed and a few are all-pass or all-fail, as in real best-of-k pools.
    The direction depends only on `dim`, so pools with other seeds share it.
    """
    direction = torch.randn(dim, generator=torch.Generator().manual_seed(dim))
    direction /= direction.norm()
    gen = torch.Generator().manual_seed(seed)
    out: list[Example] = []
    for p in range(n_problems):
        center = spread * torch.randn(dim, generator=gen)
        rate = 0.1 + 0.8 * float(torch.rand((), generator=gen))
        passed = torch.rand(per_problem, generator=gen) < rate
        sign = passed.float() * 2 - 1
        x = (
            center
            + torch.randn(per_problem, dim, generator=gen)
            + (separation / 2) * sign[:, None] * direction
        )
        for row, ok in zip(x, passed.tolist(), strict=True):
            out.append(
                Example(
                    embedding=_f32_bytes(row),
                    passed=bool(ok),
                    test_source=source,
                    problem_id=f"{prefix}{p}",
                    created_at=0.0,
                )
            )
    return out


def _f32_bytes(row: torch.Tensor) -> bytes:
    # A clone owns exactly its own storage (a row view shares the whole matrix's).
    return bytes(row.to(torch.float32).clone().untyped_storage())
