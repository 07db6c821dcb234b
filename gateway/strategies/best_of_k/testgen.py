"""Test cases written by the model, for problems that come with none (CodeT, MBR-exec).

The model is asked for assert statements; each becomes one test, and each
`assert CALL == EXPECTED` also yields an output probe: a test that always fails
with the repr of CALL as its reason, so one sandbox run per candidate gives both
its pass/fail vector (CodeT) and its outputs on the generated inputs (MBR-exec).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from sandbox import MAX_PROMPT_CHARS, TestCase, extract_code_blocks

# CodeT draws on every test the model wrote; 128 asserts run in milliseconds.
MAX_GENERATED_TESTS = 128
PROBE_MARKER = "__atlas_out__"
# `[^\S\n]*`, not `\s*`, after `^`: linear on a run of newlines (`\s*` was quadratic).
_DEF = re.compile(r"^[^\S\n]*def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
# A test-writing answer is a few asserts; a longer one is not parsed (the work on the
# event loop stays bounded: ast.parse takes about 0.5 us a character).
MAX_TESTS_ANSWER_CHARS = 32 * 1024
_PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError)

TEST_PROMPT = (
    "Here is a programming task:\n\n{task}\n\n"
    "Write 5 to 10 Python assert statements that a correct solution must pass{callee}. "
    "Use concrete inputs and the exact expected results, one assert per line, covering "
    "edge cases. Answer with a single ```python code block holding only the asserts."
)


def entry_point_of(text: str) -> str | None:
    """The function a task asks for: the last `def name(` in it, if any (none in a text
    too long to be analysed, as for its examples)."""
    if len(text) > MAX_PROMPT_CHARS:
        return None
    names = _DEF.findall(text)
    return names[-1] if names else None


def test_request_messages(task: str, entry_point: str | None) -> list[dict[str, Any]]:
    callee = f", calling `{entry_point}` directly" if entry_point else ""
    return [
        {"role": "system", "content": "You are an expert at writing unit tests."},
        {"role": "user", "content": TEST_PROMPT.format(task=task.strip(), callee=callee)},
    ]


def parse_asserts(answer: str) -> list[str]:
    """Assert statements found in a model's answer, as source lines, deduplicated (none
    in an answer over MAX_TESTS_ANSWER_CHARS)."""
    if len(answer) > MAX_TESTS_ANSWER_CHARS:
        return []
    blocks = [b.code for b in extract_code_blocks(answer) if b.language in ("python", None)]
    sources = blocks or [answer]
    found: dict[str, None] = {}  # ordered, with O(1) membership
    for source in sources:
        for statement in _statements(source):
            if isinstance(statement, ast.Assert):
                try:
                    text = ast.unparse(ast.Assert(test=statement.test, msg=None))
                except RecursionError:
                    continue
                found.setdefault(text)
    return list(found)


def _statements(source: str) -> list[ast.stmt]:
    try:
        return list(ast.parse(source).body)
    except _PARSE_ERRORS:
        # Keep the lines that parse on their own; a model answer is often half right.
        # Only a line that says `assert` can hold an assert statement.
        statements: list[ast.stmt] = []
        for line in source.splitlines():
            if "assert" not in line:
                continue
            try:
                statements.extend(ast.parse(line.strip()).body)
            except _PARSE_ERRORS:
                continue
        return statements


def _probe_target(assertion: str) -> str | None:
    test = ast.parse(assertion).body[0]
    assert isinstance(test, ast.Assert)
    expr = test.test
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1:
        return ast.unparse(expr.left)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        return ast.unparse(expr.operand)
    return ast.unparse(expr)


def generated_tests(asserts: list[str], entry_point: str | None) -> tuple[list[TestCase], int]:
    """Tests for the asserts followed by their output probes; returns (tests, n_asserts)."""
    asserts = asserts[:MAX_GENERATED_TESTS]
    tests = [
        TestCase(kind="assert", name=f"generated_{i}", code=a, entry_point=entry_point)
        for i, a in enumerate(asserts)
    ]
    for i, assertion in enumerate(asserts):
        target = _probe_target(assertion)
        code = f"raise AssertionError({PROBE_MARKER!r} + repr({target})[:200])"
        tests.append(TestCase(kind="assert", name=f"probe_{i}", code=code, entry_point=entry_point))
    return tests, len(asserts)


def probe_output(reason: str) -> str:
    """The behaviour a probe saw: the output repr, or the exception that replaced it."""
    at = reason.find(PROBE_MARKER)
    return reason[at + len(PROBE_MARKER) :] if at >= 0 else "!" + reason[:200]
