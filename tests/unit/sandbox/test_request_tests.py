from __future__ import annotations

import pytest

from sandbox import InvalidTestsError, TestCase, parse_request_tests


def test_all_three_item_shapes() -> None:
    tests = parse_request_tests(
        [
            "assert add(1, 2) == 3",
            {"input": "1 2\n", "output": "3\n"},
            {
                "code": "def test_zero():\n    assert add(0, 0) == 0\n",
                "name": "zeros",
                "entry_point": "add",
            },
        ]
    )
    assert tests == [
        TestCase(kind="assert", name="request_0", code="assert add(1, 2) == 3"),
        TestCase(kind="io", name="request_1", stdin="1 2\n", expected_stdout="3\n"),
        TestCase(
            kind="pytest",
            name="zeros",
            code="def test_zero():\n    assert add(0, 0) == 0\n",
            entry_point="add",
        ),
    ]


def test_missing_field_is_empty() -> None:
    assert parse_request_tests(None) == []
    assert parse_request_tests([{"output": "ok"}])[0].stdin == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("assert x", "must be a list"),
        ([42], r"atlas.tests\[0\] must be a string or an object"),
        (["ok", {"input": "1"}], r"atlas.tests\[1\] needs either 'code' or 'output'"),
        ([{"output": 3}], r"atlas.tests\[0\].output must be a string"),
        ([{"output": "", "shell": "rm -rf /"}], "unknown keys"),
        (["assert 1"] * 101, "at most 100"),
        (["x" * (64 * 1024 + 1)], "larger than"),
    ],
)
def test_malformed_items_are_named(raw: object, message: str) -> None:
    with pytest.raises(InvalidTestsError, match=message):
        parse_request_tests(raw)
