from __future__ import annotations

import pytest

from sandbox.compare import mismatch_reason, outputs_match


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ("3\n", "3"),
        ("1 2  \n3\n\n\n", "1 2\n3"),
        ("0.3333333\n", "0.333333333"),
        ("1.0000001 2\n", "1.0 2"),
        ("a\r\nb\r\n", "a\nb\n"),
    ],
)
def test_outputs_that_match(actual: str, expected: str) -> None:
    assert outputs_match(actual, expected)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        ("4\n", "3"),
        ("1 2\n", "1  2 3"),
        ("0.34\n", "0.333333"),
        ("3\n", "3.0000001e10"),
        ("10\n", "10.5"),
        ("1\n2\n", "1"),
        ("", "0"),
        ("4", "3.0"),
    ],
)
def test_outputs_that_differ(actual: str, expected: str) -> None:
    assert not outputs_match(actual, expected)


def test_integers_get_no_float_tolerance() -> None:
    assert not outputs_match("1000001\n", "1000000")


def test_mismatch_reason_names_the_line() -> None:
    assert mismatch_reason("1\n5\n", "1\n4\n") == "line 2: expected '4', got '5'"
    assert mismatch_reason("1\n", "1\n2\n") == "expected 2 lines, got 1"
