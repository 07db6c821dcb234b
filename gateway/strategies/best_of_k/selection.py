"""Choosing the winner among verified candidates. Pure functions, no I/O.

Scoring, in order of precedence (the first signal that separates the winner from
the runner-up names the selection method):
1. trusted tests: how many of the request's tests and the prompt's examples pass;
2. consensus, when only model-generated tests exist:
   - CodeT dual execution agreement: candidates that pass exactly the same set of
     generated tests form a group; the group scores |candidates| x |tests passed|
     (each test counted as often as the model wrote it),
     so tests many candidates agree on and candidates many tests agree on both count;
   - MBR-exec: candidates are clustered by their outputs on the generated inputs
     (whatever the expected values say); a bigger cluster ranks higher;
3. the ranker hook (the Geometric Lens): lower energy ranks higher;
4. the candidate the client asked for (its own temperature), then the earlier one.
Length is not evidence: it once preferred answers that had dropped an import line.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

METHOD_NAMES = ("tests", "codet", "mbr-exec", "lens", "requested", "first")


@dataclass(slots=True)
class Evidence:
    """What verification learned about one completed candidate."""

    index: int
    order: int  # position in completion order
    requested: bool  # the candidate the client asked for
    has_code: bool
    trusted_passed: int = 0
    generated_passed: frozenset[int] = frozenset()
    outputs: tuple[str, ...] | None = None
    energy: float | None = None
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Selection:
    winner: int
    method: str


def codet_scores(
    evidence: list[Evidence], weights: Sequence[float] | None = None
) -> dict[int, float]:
    """|group| x (weighted) number of tests the group passes. A test's weight is how many
    times the model wrote it: tests it keeps coming back to are more often right."""
    groups: dict[frozenset[int], list[int]] = defaultdict(list)
    for item in evidence:
        groups[item.generated_passed].append(item.index)
    scores: dict[int, float] = {}
    for passed, members in groups.items():
        worth = sum(weights[t] if weights and t < len(weights) else 1.0 for t in passed)
        for index in members:
            scores[index] = len(members) * worth
    return scores


def mbr_cluster_sizes(evidence: list[Evidence]) -> dict[int, int]:
    counts = Counter(item.outputs for item in evidence if item.outputs)
    return {item.index: counts[item.outputs] if item.outputs else 0 for item in evidence}


def _key(item: Evidence, codet: dict[int, float], mbr: dict[int, int]) -> tuple[float, ...]:
    energy = item.energy if item.energy is not None else 0.0
    return (
        -item.trusted_passed,
        -codet.get(item.index, 0.0),
        -mbr.get(item.index, 0),
        energy,
        0 if item.requested else 1,
        item.order,
    )


def select(evidence: list[Evidence], test_weights: Sequence[float] | None = None) -> Selection:
    """Rank the candidates. The method names every signal that eliminated someone on
    the way to the winner, e.g. "tests+codet" when consensus chose among the candidates
    that passed every trusted test."""
    if not evidence:
        raise ValueError("no candidates to select from")
    codet = codet_scores(evidence, test_weights)
    mbr = mbr_cluster_sizes(evidence)
    for item in evidence:
        item.scores = {
            "trusted_passed": float(item.trusted_passed),
            "codet": codet.get(item.index, 0.0),
            "mbr_cluster": float(mbr.get(item.index, 0)),
        }
        if item.energy is not None:
            item.scores["energy"] = item.energy
    keys = {item.index: _key(item, codet, mbr) for item in evidence}
    winner = min(evidence, key=lambda e: keys[e.index])
    if len(evidence) == 1:
        return Selection(winner.index, "only")
    best = keys[winner.index]
    tied = list(keys.values())
    deciding: list[str] = []
    for position, name in enumerate(METHOD_NAMES):
        still = [key for key in tied if key[position] == best[position]]
        if len(still) < len(tied):
            deciding.append(name)
        tied = still
    # "first" only breaks ties between interchangeable answers: name it only when alone.
    named = [n for n in deciding if n != "first"] or ["first"]
    return Selection(winner.index, "+".join(named))
