"""Compare program output with expected output, competitive-programming style."""

from __future__ import annotations

import math

REL_TOL = 1e-6
ABS_TOL = 1e-6


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _tokens_match(actual: str, expected: str) -> bool:
    if actual == expected:
        return True
    a, e = _float(actual), _float(expected)
    if a is None or e is None:
        return False
    # Only a token written with a decimal point or exponent is a float to be tolerant about.
    if not any(c in expected for c in ".eE"):
        return False
    return math.isclose(a, e, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def outputs_match(actual: str, expected: str) -> bool:
    """Equal up to trailing whitespace on lines and at the end, with float tolerance."""
    got, want = _lines(actual), _lines(expected)
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for line_got, line_want in zip(got, want, strict=True):
        tokens_got, tokens_want = line_got.split(), line_want.split()
        if len(tokens_got) != len(tokens_want):
            return False
        if not all(_tokens_match(a, e) for a, e in zip(tokens_got, tokens_want, strict=True)):
            return False
    return True


def mismatch_reason(actual: str, expected: str, limit: int = 80) -> str:
    got, want = _lines(actual), _lines(expected)
    for index, (line_got, line_want) in enumerate(zip(got, want, strict=False)):
        if line_got != line_want:
            return f"line {index + 1}: expected {line_want[:limit]!r}, got {line_got[:limit]!r}"
    return f"expected {len(want)} lines, got {len(got)}"
