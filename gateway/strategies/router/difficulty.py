"""Difficulty D in [0, 1] of a code request, from four signals (docs/routing.md has the
formulas): familiarity (1 - the best similarity to a verified pattern of its scope),
verifiability (how little trusted test signal it carries), complexity (length, code,
constraints) and the Lens' predicted failure of a first candidate (prior.py: its score
of the problem with an empty candidate; neutral, 0.5, without a trained Lens).

Everything here is pure and linear in the (capped) prompt: the strategy reads long
prompts in a worker thread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from config import RouterSettings

NEUTRAL = 0.5
# Complexity reads at most this much of the prompt; longer prompts count as the longest.
COMPLEXITY_CHARS = 64 * 1024
LONG_PROMPT_CHARS = 8000  # a prompt this long has the full length term
# Signs of code in the prompt: fences, definitions, imports (each start a literal).
_CODE_SIGN = re.compile(r"```|def(?<=\bdef) \w+\(|class(?<=\bclass) \w+|import(?<=\bimport) \w+")
# Constraints the answer must meet: bounds, complexity classes, "must", "without".
_CONSTRAINT = re.compile(
    r"must(?<=\bmust)\b|should(?<=\bshould)\b|without(?<=\bwithout)\b|at most\b|at least\b"
    r"|o\(|<=|>=|≤|≥|constraint|edge case|in[- ]place|exactly\b|\d+\s*\^\s*\d+|10\*\*\d+"
)
CODE_SIGNS_FULL = 6  # this many code signs: the full code term
CONSTRAINTS_FULL = 8


@dataclass(frozen=True, slots=True)
class Signals:
    familiarity: float
    verifiability: float
    complexity: float
    lens: float = NEUTRAL


def verifiability(source: str, count: int) -> float:
    """1 - trust: request tests are the strongest signal, prompt examples next, each test
    up to five adds some; no trusted tests is 1.0 (nothing to check an answer against)."""
    if count <= 0 or source == "none":
        return 1.0
    base = {"request": 0.6, "prompt": 0.4}.get(source, 0.7)  # "request+prompt": 0.7
    return max(0.0, 1.0 - min(1.0, base + 0.06 * min(count, 5)))


def complexity(prompt: str) -> float:
    """0.5 length (log scale up to LONG_PROMPT_CHARS) + 0.25 code signs + 0.25
    constraint words, each term capped at 1."""
    text = prompt[:COMPLEXITY_CHARS].lower()
    length = min(1.0, math.log1p(len(prompt) / 200) / math.log1p(LONG_PROMPT_CHARS / 200))
    code = min(1.0, sum(1 for _ in _CODE_SIGN.finditer(text)) / CODE_SIGNS_FULL)
    constraints = min(1.0, sum(1 for _ in _CONSTRAINT.finditer(text)) / CONSTRAINTS_FULL)
    return 0.5 * length + 0.25 * code + 0.25 * constraints


def difficulty(signals: Signals, settings: RouterSettings) -> float:
    """The weighted mean of the signals (weights normalised by their sum)."""
    w = settings.weights
    total = w.familiarity + w.verifiability + w.complexity + w.lens
    value = (
        w.familiarity * signals.familiarity
        + w.verifiability * signals.verifiability
        + w.complexity * signals.complexity
        + w.lens * signals.lens
    ) / total
    return min(1.0, max(0.0, value))


def difficulty_bin(value: float, bins: int) -> int:
    return min(bins - 1, int(value * bins))
