"""Verifying candidates in the sandbox: which tests apply, and what each candidate did.

Trust order: tests supplied with the request, then examples extracted from the
prompt (both "trusted": a candidate that passes them all ends the search), then
tests the model writes (weaker: used for consensus, never for early stop).
"""

from __future__ import annotations

import ast
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.strategies.best_of_k.testgen import parse_asserts, probe_output
from sandbox import (
    CodeBlock,
    Limits,
    Sandbox,
    SandboxError,
    TestCase,
    Verdict,
    extract_code_blocks,
    extract_prompt_tests,
    parse_request_tests,
)

logger = logging.getLogger(__name__)

# Bare code (an answer without fences) is parsed to see whether it defines something;
# ast.parse takes about 0.5 us a character, so a longer bare answer is not taken as code.
MAX_BARE_CODE_CHARS = 32 * 1024
# Text longer than this is analysed in a worker thread: below it, analysis takes less
# than the hop (about 50 us). Every analysis is linear and capped in size (see
# sandbox/codeblocks.py, sandbox/prompt_tests.py), so a thread never runs for long; the
# deadline only stops the caller waiting.
OFF_LOOP_CHARS = 16 * 1024
ANALYSIS_DEADLINE_S = 5.0


@dataclass(frozen=True, slots=True)
class TrustedTests:
    tests: list[TestCase]
    source: str  # "request", "prompt", "request+prompt" or "none"


@dataclass(frozen=True, slots=True)
class Code:
    language: str
    source: str


@dataclass(frozen=True, slots=True)
class FailedTest:
    """One trusted test a candidate failed, as the jail saw it: evidence for repair."""

    test: str  # the test's code
    reason: str  # the assertion message, the exception, or why it did not run


@dataclass(frozen=True, slots=True)
class TrustedResult:
    passed: int
    failures: tuple[FailedTest, ...] = ()


@dataclass(frozen=True, slots=True)
class GeneratedResult:
    passed: frozenset[int]
    outputs: tuple[str, ...]


def trusted_tests(request_tests: object, prompt: str, entry_point: str | None) -> TrustedTests:
    supplied = parse_request_tests(request_tests)
    examples = extract_prompt_tests(prompt, entry_point) if prompt else []
    source = (
        "+".join(name for name, tests in (("request", supplied), ("prompt", examples)) if tests)
        or "none"
    )
    return TrustedTests(supplied + examples, source)


def extract_code(content: str, entry_point: str | None) -> Code | None:
    """The code of an answer: the fenced block defining the entry point, else the longest."""
    blocks = [b for b in extract_code_blocks(content) if b.language is not None]
    if not blocks:
        return _bare_python(content)
    if entry_point:
        defining = [b for b in blocks if f"def {entry_point}" in b.code]
        if defining:
            return _code(max(defining, key=lambda b: len(b.code)))
    return _code(max(blocks, key=lambda b: len(b.code)))


def _code(block: CodeBlock) -> Code:
    assert block.language is not None
    return Code(block.language, block.code)


def _bare_python(content: str) -> Code | None:
    # Some models answer with bare code; accept it only if it parses and defines something.
    if len(content) > MAX_BARE_CODE_CHARS:
        return None
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    defines = any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in tree.body)
    return Code("python", content) if defines else None


def _test_code(by_name: dict[str, TestCase], result_name: str) -> str:
    test = by_name.get(result_name) or by_name.get(result_name.split("::", 1)[0])
    if test is None:
        return result_name
    return (
        test.code
        if test.kind != "io"
        else f"stdin: {test.stdin!r}, stdout: {test.expected_stdout!r}"
    )


async def extract_code_off_loop(content: str, entry_point: str | None) -> Code | None:
    """`extract_code`, in a worker thread when the answer is long (None past the deadline)."""
    return await off_loop(extract_code, None, content, entry_point)


async def parse_asserts_off_loop(answer: str) -> list[str]:
    """`testgen.parse_asserts`, in a worker thread when the answer is long."""
    return await off_loop(parse_asserts, [], answer)


async def off_loop[T](analyse: Callable[..., T], fallback: T, text: str, *args: object) -> T:
    """`analyse(text, *args)`: inline for short text, else in a worker thread, giving
    `fallback` if it takes longer than ANALYSIS_DEADLINE_S (the thread still finishes:
    the analyses are capped)."""
    if len(text) <= OFF_LOOP_CHARS:
        return analyse(text, *args)
    try:
        async with asyncio.timeout(ANALYSIS_DEADLINE_S):
            return await asyncio.to_thread(analyse, text, *args)
    except TimeoutError:
        logger.warning(
            "%s gave up on %d characters after %g s",
            analyse.__name__,
            len(text),
            ANALYSIS_DEADLINE_S,
        )
        return fallback


class SandboxVerifier:
    """Runs candidates in the sandbox; a sandbox failure is logged and counts as a failure."""

    def __init__(self, sandbox: Sandbox | None, limits: Limits | None = None) -> None:
        self._sandbox = sandbox
        self._limits = limits

    @property
    def available(self) -> bool:
        return self._sandbox is not None and self._sandbox.availability.available

    def availability(self) -> dict[str, object]:
        """For /ready: whether candidates can be verified, and why not."""
        if self._sandbox is None:
            return {"available": False, "reason": "sandbox disabled or not started"}
        state = self._sandbox.availability
        return {
            "available": state.available,
            "backend": state.backend,
            "reason": state.reason,
            "languages": state.languages,
        }

    async def _check(self, code: Code, tests: list[TestCase]) -> Verdict | None:
        assert self._sandbox is not None
        try:
            return await self._sandbox.check(code.source, tests, code.language, self._limits)
        except SandboxError as exc:
            logger.warning("sandbox could not check a candidate: %s", exc)
            return None

    async def trusted(self, code: Code, tests: list[TestCase]) -> TrustedResult:
        """How many trusted tests the candidate passes, and how the others failed."""
        verdict = await self._check(code, tests)
        if verdict is None:
            return TrustedResult(0)
        if not verdict.tests:  # it did not build or run: one failure says why
            reason = verdict.error or verdict.stderr[-300:] or f"stage {verdict.stage} failed"
            return TrustedResult(0, (FailedTest(tests[0].code if tests else "", reason),))
        by_name = {test.name or f"test_{i}": test for i, test in enumerate(tests)}
        failures = tuple(
            FailedTest(_test_code(by_name, result.name), result.reason)
            for result in verdict.tests
            if not result.passed
        )
        return TrustedResult(verdict.passed_count, failures)

    async def generated(self, code: Code, tests: list[TestCase], n_asserts: int) -> GeneratedResult:
        """Pass set over the generated asserts, and outputs from their probes."""
        if code.language != "python":
            return GeneratedResult(frozenset(), ())
        verdict = await self._check(code, tests)
        if verdict is None or not verdict.tests:
            return GeneratedResult(frozenset(), ())
        results = verdict.tests
        passed = frozenset(i for i, r in enumerate(results[:n_asserts]) if r.passed)
        outputs = tuple(probe_output(r.reason) for r in results[n_asserts:])
        if all(o.startswith("!") for o in outputs):
            # Nothing ran (a candidate that does not load): no behaviour to cluster on.
            outputs = ()
        return GeneratedResult(passed, outputs)
