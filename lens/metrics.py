"""Ranking metrics, in plain Python so they run anywhere (tests, ablation, trainer)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import msgspec


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC AUC where a higher score means positive; ties count one half.

    Returns 0.5 when one class is missing, so callers need no special case.
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    n_pos = sum(1 for y in labels if y)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid_rank = (i + j) / 2 + 1  # average 1-based rank of the tie group
        rank_sum += mid_rank * sum(1 for k in range(i, j + 1) if labels[order[k]])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def energy_auc(energies: Sequence[float], labels: Sequence[bool]) -> float:
    """AUC of passing against failing where low energy should mean passing."""
    return auc([-e for e in energies], labels)


def energy_gap(energies: Sequence[float], labels: Sequence[bool]) -> float:
    """Mean failing energy minus mean passing energy (positive is good); 0 if a class is empty."""
    passing = [e for e, y in zip(energies, labels, strict=True) if y]
    failing = [e for e, y in zip(energies, labels, strict=True) if not y]
    if not passing or not failing:
        return 0.0
    return sum(failing) / len(failing) - sum(passing) / len(passing)


class PickStats(msgspec.Struct, frozen=True, kw_only=True):
    """Pass rate of one pick per problem; `mixed_*` only over problems with both verdicts."""

    problems: int
    mixed_problems: int
    lens_pass_rate: float  # lowest-energy pick, all problems
    mixed_lens: float  # lowest-energy pick, mixed problems
    mixed_random: float  # expected pass rate of a uniform random pick
    mixed_worst: float  # highest-energy pick


def pick_stats(
    energies: Sequence[float], labels: Sequence[bool], problems: Sequence[str]
) -> PickStats:
    groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for e, y, p in zip(energies, labels, problems, strict=True):
        groups[p].append((e, y))
    lens_all = 0
    mixed = lens_mixed = worst_mixed = 0
    random_mixed = 0.0
    for cands in groups.values():
        # Ties break towards the first candidate, as a ranker with a stable sort would.
        best = min(cands, key=lambda c: c[0])
        worst = max(cands, key=lambda c: c[0])
        lens_all += best[1]
        n_pass = sum(1 for _, y in cands if y)
        if 0 < n_pass < len(cands):
            mixed += 1
            lens_mixed += best[1]
            worst_mixed += worst[1]
            random_mixed += n_pass / len(cands)
    n = len(groups)
    return PickStats(
        problems=n,
        mixed_problems=mixed,
        lens_pass_rate=lens_all / n if n else 0.0,
        mixed_lens=lens_mixed / mixed if mixed else 0.0,
        mixed_random=random_mixed / mixed if mixed else 0.0,
        mixed_worst=worst_mixed / mixed if mixed else 0.0,
    )
