"""Repair rounds: a failing candidate goes back to the model with the jail's evidence.

Only trusted tests (the request's and the prompt's) drive repair: the failing test as
the user wrote it, and the assertion message, exception or missing-output reason the
jail gave. A bare `assert f(x) == y` says nothing of what `f(x)` was, so the value is
fetched from the jail by a separate probe run (the verdicts are not touched) and shown
too: self-debugging works from what the code did, not only from what was expected
(Chen et al. 2023). The model answers in the same conversation (its own answer, then
the evidence), so a second round sees the whole exchange.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Sequence
from typing import Any

from gateway.strategies.best_of_k.verification import FailedTest

MAX_FAILURES_SHOWN = 3
MAX_TEST_CHARS = 600
MAX_REASON_CHARS = 400

MAX_RETURNED_CHARS = 200

REPAIR_PROMPT = (
    "Your code does not pass {count}. Here is what running it gave:\n\n{evidence}\n\n"
    "Fix the code so that it passes. Answer with the complete corrected code{whole} in a "
    "single ```python code block."
)
# The prompt's examples become this harness shape (sandbox.prompt_tests); the model is
# shown the plain assert it stands for.
_ACTUAL, _EXPECTED = "_atlas_actual", "_atlas_expected"
_PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError)


def _assigned(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    }


def readable_test(code: str) -> str:
    """The test as a user would write it: `assert f(x) == y` for a prompt example."""
    if _ACTUAL not in code:
        return code.strip()
    try:
        values = _assigned(ast.parse(code))
    except _PARSE_ERRORS:
        return code.strip()
    if _ACTUAL in values and _EXPECTED in values:
        return f"assert {ast.unparse(values[_ACTUAL])} == {ast.unparse(values[_EXPECTED])}"
    return code.strip()


def compared_call(failure: FailedTest) -> str | None:
    """The expression whose value a failed bare assert hid: `f(x)` of `assert f(x) == y`,
    else the first call of a function that is not a builtin. None when the jail's reason
    already says what happened (an exception, or a prompt example's "expected, got")."""
    if not failure.reason.startswith("assertion failed: assert") or _ACTUAL in failure.test:
        return None
    try:
        tree = ast.parse(failure.test)
    except _PARSE_ERRORS:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        if isinstance(test.ops[0], (ast.Eq, ast.NotEq)) and _calls(test.left):
            return ast.unparse(test.left)
    for node in ast.walk(test):
        if isinstance(node, ast.Call) and not _is_builtin(node.func):
            return ast.unparse(node)
    return None


def _calls(node: ast.expr) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _is_builtin(func: ast.expr) -> bool:
    return isinstance(func, ast.Name) and hasattr(builtins, func.id)


def _evidence(failure: FailedTest, returned: str | None) -> str:
    test = readable_test(failure.test)[:MAX_TEST_CHARS]
    reason = failure.reason.strip()[:MAX_REASON_CHARS] or "it failed"
    shown = f"```python\n{test}\n```\n{reason}"
    call = compared_call(failure)
    if returned is not None and call is not None:
        shown += f"\n`{call}` returned `{returned[:MAX_RETURNED_CHARS]}`."
    return shown


def repair_prompt(
    failures: Sequence[FailedTest],
    returned: Sequence[str | None] = (),
    entry_point: str | None = None,
) -> str:
    """`returned[i]`: what the call `compared_call(failures[i])` names returned, if known."""
    shown = failures[:MAX_FAILURES_SHOWN]
    values = [*returned, *([None] * len(shown))]
    count = "this test" if len(failures) == 1 else f"{len(failures)} tests"
    # Small models answer with only the line they changed unless told otherwise.
    whole = f" (the whole `{entry_point}` function and everything it uses)" if entry_point else ""
    evidence = "\n\n".join(_evidence(f, v) for f, v in zip(shown, values, strict=False))
    return REPAIR_PROMPT.format(count=count, evidence=evidence, whole=whole)


def repair_conversation(
    conversation: Sequence[dict[str, Any]],
    answer: str,
    failures: Sequence[FailedTest],
    returned: Sequence[str | None] = (),
    entry_point: str | None = None,
) -> list[dict[str, Any]]:
    """The conversation that produced `answer`, then the answer and the evidence."""
    return [
        *conversation,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": repair_prompt(failures, returned, entry_point)},
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
