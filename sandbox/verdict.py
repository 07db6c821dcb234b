"""Result types: what one jailed run produced and what a check decided."""

from __future__ import annotations

from typing import Literal

import msgspec

from sandbox.config import Language

KilledBy = Literal["wall_time", "cpu_time", "memory", "output", "signal"]
Stage = Literal["compile", "run"]
TestKind = Literal["assert", "pytest", "io"]


class TestCase(msgspec.Struct, frozen=True, kw_only=True):
    """One runnable test.

    kind "assert": Python code run with the candidate's globals (fails if it raises);
    kind "pytest": Python code defining test_* functions, each called without arguments;
    kind "io": the program reads `stdin` and must print `expected_stdout`
    (trailing whitespace ignored, floats compared with a tolerance).
    entry_point: the function name the test calls (informational: a candidate that
    names it differently fails, as it would for the user calling that name).
    """

    kind: TestKind
    name: str = ""
    code: str = ""
    stdin: str = ""
    expected_stdout: str = ""
    entry_point: str | None = None

    __test__ = False  # keep pytest from collecting this class


class Program(msgspec.Struct, frozen=True, kw_only=True):
    """Source code in one language, with optional standard input."""

    language: Language
    code: str
    stdin: str = ""


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one process run produced, decoded from nsjail and our own accounting."""

    exit_code: int | None
    signal: int | None = None
    killed_by: KilledBy | None = None
    duration_s: float = 0.0
    cpu_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    jail_error: str | None = None  # nsjail itself failed before running the program

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_by is None and self.jail_error is None


class TestResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    passed: bool
    reason: str = ""

    __test__ = False


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The sandbox's decision on one candidate."""

    passed: bool
    language: Language
    stage: Stage = "run"
    tests: tuple[TestResult, ...] = ()
    exit_code: int | None = None
    signal: int | None = None
    killed_by: KilledBy | None = None
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # compile error, jail failure, unsupported test kind

    @property
    def passed_count(self) -> int:
        return sum(1 for t in self.tests if t.passed)
