"""Grading for `atlas bench live`, independent of the gateway's own verifier.

The answer's code (`extract_code`) becomes one plain program: the prompt's top-level
imports (the file an IDE user has open already has them), the code, and the dataset's
hidden test script (`Problem.test`, which ends by calling the check). The program runs
in the real nsjail sandbox through its public API (`Sandbox.run`) with 10 s of wall and
CPU time; the problem is solved when the program exits with status 0.
"""

from __future__ import annotations

import ast
import re

import msgspec

from bench.live_data import Problem
from sandbox import Limits, Program, Sandbox, extract_code_blocks

GRADE_LIMITS = Limits(wall_time_s=10.0, cpu_time_s=10, memory_mb=512)
JAIL_RETRIES = 2
_IMPORT = re.compile(r"^(?:import|from)\s+\S.*$", re.MULTILINE)


class GradeError(RuntimeError):
    """The jail failed to run the program (not the code's fault); nothing was graded."""


class Grade(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    exit_code: int | None = None
    killed_by: str | None = None
    reason: str = ""  # empty when passed; else why (no code, stderr's last line, a kill)
    duration_s: float = 0.0


def defines(code: str, name: str) -> bool:
    """Whether `code` parses and defines function `name` at its top level."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(code.strip())


def extract_code(text: str, entry_point: str, prompt: str = "") -> str | None:
    """The code of an answer, or None when it has none.

    The first fenced block defining the entry point; else the longest fenced block (or,
    with no fence, the whole text); a body-only answer is completed with the prompt
    (prompt + answer) when that defines the entry point; an unfenced text is code only
    if it parses."""
    blocks = [b.code for b in extract_code_blocks(text)]
    for code in blocks:
        if defines(code, entry_point):
            return code
    raw = max(blocks, key=len) if blocks else text
    if prompt:
        joined = prompt.rstrip("\n") + "\n" + raw
        if defines(joined, entry_point):
            return joined
    if blocks or parses(raw):
        return raw
    return None


def prompt_imports(prompt: str) -> str:
    return "\n".join(_IMPORT.findall(prompt))


def build_program(problem: Problem, code: str) -> str:
    """Imports of the prompt + the answer's code + the hidden test script."""
    return f"{prompt_imports(problem.prompt)}\n{code.rstrip()}\n\n\n{problem.test}"


class Grader:
    """Runs answers against hidden tests in the sandbox, one program per answer."""

    def __init__(self, sandbox: Sandbox, limits: Limits = GRADE_LIMITS) -> None:
        self.sandbox = sandbox
        self.limits = limits

    async def grade(self, problem: Problem, answer: str) -> Grade:
        code = extract_code(answer, problem.entry_point, problem.prompt)
        if code is None:
            return Grade(passed=False, reason="no code in the answer")
        program = Program(language="python", code=build_program(problem, code))
        for _ in range(JAIL_RETRIES + 1):
            verdict = await self.sandbox.run(program, self.limits)
            if verdict.error is None:
                break
        else:
            raise GradeError(f"{problem.task_id}: the jail failed: {verdict.error}")
        reason = "" if verdict.passed else _why(verdict.killed_by, verdict.stderr)
        return Grade(
            passed=verdict.passed,
            exit_code=verdict.exit_code,
            killed_by=verdict.killed_by,
            reason=reason,
            duration_s=verdict.duration_s,
        )


def _why(killed_by: str | None, stderr: str) -> str:
    if killed_by is not None:
        return f"killed: {killed_by}"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "non-zero exit")[:200]
