"""Repair rounds: a failing candidate goes back to the model with the jail's evidence.

Only trusted tests (the request's and the prompt's) drive repair: the failing test's
code and the assertion message, exception or missing-output reason the jail gave. The
model answers in the same conversation (its own answer, then the evidence), so a
second round sees the whole exchange.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from gateway.strategies.best_of_k.verification import FailedTest

MAX_FAILURES_SHOWN = 3
MAX_TEST_CHARS = 600
MAX_REASON_CHARS = 400

REPAIR_PROMPT = (
    "Your code does not pass {count}. Here is what running it gave:\n\n{evidence}\n\n"
    "Fix the code so that it passes. Answer with the complete corrected code in a "
    "single ```python code block."
)


def _evidence(failure: FailedTest) -> str:
    test = failure.test.strip()[:MAX_TEST_CHARS]
    reason = failure.reason.strip()[:MAX_REASON_CHARS] or "it failed"
    return f"```python\n{test}\n```\n{reason}"


def repair_prompt(failures: Sequence[FailedTest]) -> str:
    shown = failures[:MAX_FAILURES_SHOWN]
    count = "this test" if len(failures) == 1 else f"{len(failures)} tests"
    return REPAIR_PROMPT.format(
        count=count, evidence="\n\n".join(_evidence(failure) for failure in shown)
    )


def repair_conversation(
    conversation: Sequence[dict[str, Any]], answer: str, failures: Sequence[FailedTest]
) -> list[dict[str, Any]]:
    """The conversation that produced `answer`, then the answer and the evidence."""
    return [
        *conversation,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": repair_prompt(failures)},
    ]


def carried_over(parent: str, repaired: str) -> list[str]:
    """Top-level imports and definitions of the repaired code's parent that the repaired
    code uses but no longer has: small models often answer a repair with only the
    function they changed, dropping the helper it calls. Returned in the parent's order."""
    try:
        parent_tree, tree = ast.parse(parent), ast.parse(repaired)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    bound = {name for node in tree.body for name in bound_names(node)}
    kept: list[str] = []
    for node in parent_tree.body:
        names = bound_names(node)
        if names and names & used and not names & bound:
            segment = ast.get_source_segment(parent, node)
            if segment is not None:
                kept.append(segment)
                bound |= names
    return kept


def bound_names(node: ast.stmt) -> set[str]:
    """The top-level names an import, function or class statement binds."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return set()
