"""Inputs derived from the visible examples, so that candidates tied on the trusted tests
can still be compared by behaviour (MBR-exec): every tied candidate runs on the same
new inputs, and the answer most candidates agree on ranks first.

An example call `f([3, 1, 2], 2)` with literal arguments yields neighbours that change
one argument towards a smaller or edge value (an empty list, the list reversed, n - 1,
0, ...). Only shrinking changes: an input that grows could make a correct but
exponential candidate time out, which would read as disagreement.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

from gateway.strategies.best_of_k.testgen import PROBE_MARKER
from sandbox import TestCase

MAX_DERIVED_INPUTS = 12
MAX_LITERAL_CHARS = 2_000  # the repr of a derived argument


def _variants(value: Any) -> list[Any]:
    """Smaller or edge neighbours of one literal argument."""
    match value:
        case bool():
            return [not value]
        case int():
            return [value - 1, 0, -value] if abs(value) < 10**9 else []
        case float():
            return [value / 2, 0.0, -value]
        case str():
            return ["", value[::-1], value[1:], value.upper()]
        case list() | tuple():
            return [type(value)(), value[::-1], value[:-1], value[1:]]
        case dict():
            return [{}]
    return []


def _example_calls(tests: list[TestCase], entry_point: str) -> list[tuple[list[Any], str]]:
    """(literal positional arguments, keyword text) of each call to the entry point."""
    calls: list[tuple[list[Any], str]] = []
    for test in tests:
        if test.kind == "io":
            continue
        try:
            tree = ast.parse(test.code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id != entry_point or any(k.arg is None for k in node.keywords):
                continue
            try:
                args = [ast.literal_eval(arg) for arg in node.args]
                for keyword in node.keywords:
                    ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            keywords = ", ".join(ast.unparse(k) for k in node.keywords)
            calls.append((args, keywords))
    return calls


def called_function(tests: list[TestCase]) -> str | None:
    """The function the tests call when nothing names it: the first non-builtin call."""
    for test in tests:
        try:
            tree = ast.parse(test.code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if not hasattr(builtins, node.func.id) and not node.func.id.startswith("_"):
                    return node.func.id
    return None


def derived_calls(tests: list[TestCase], entry_point: str | None) -> list[str]:
    """Calls of the entry point on inputs next to the visible examples' inputs."""
    entry_point = entry_point or called_function(tests)
    if not entry_point:
        return []
    examples = _example_calls(tests, entry_point)
    seen = {_call_text(entry_point, args, keywords) for args, keywords in examples}
    found: list[str] = []
    for args, keywords in examples:
        for position, value in enumerate(args):
            for variant in _variants(value):
                changed = [*args[:position], variant, *args[position + 1 :]]
                text = _call_text(entry_point, changed, keywords)
                if text not in seen and len(text) <= MAX_LITERAL_CHARS:
                    seen.add(text)
                    found.append(text)
    return found[:MAX_DERIVED_INPUTS]


def _call_text(name: str, args: list[Any], keywords: str) -> str:
    parts = [repr(arg) for arg in args] + ([keywords] if keywords else [])
    return f"{name}({', '.join(parts)})"


def probe_tests(calls: list[str]) -> list[TestCase]:
    """One probe per call: it always fails, with the repr of what the call returned."""
    return [
        TestCase(
            kind="assert",
            name=f"derived_{i}",
            code=f"raise AssertionError({PROBE_MARKER!r} + repr({call})[:200])",
        )
        for i, call in enumerate(calls)
    ]
