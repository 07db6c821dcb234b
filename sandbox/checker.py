"""From a candidate and its tests to a Verdict: compile, run, compare."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sandbox.backends import Job, JobResult
from sandbox.compare import mismatch_reason, outputs_match
from sandbox.config import Limits
from sandbox.harness import HARNESS_NAME, build_spec, harness_source, interpret, not_run_reason
from sandbox.languages import BOX, Toolchain
from sandbox.verdict import RunResult, TestCase, TestResult, Verdict

Runner = Callable[[Job], Awaitable[JobResult]]
PYTHON_KINDS = frozenset({"assert", "pytest"})
COMPILE_ENV = ("PATH=/usr/bin:/bin",)  # collect2 looks `ld` up on PATH; programs get no env


@dataclass(frozen=True)
class Built:
    """A program ready to run: its files in the box, or the compile failure."""

    files: dict[str, bytes]
    executable: frozenset[str]
    failure: Verdict | None = None


def _verdict(
    toolchain: Toolchain,
    run: RunResult,
    *,
    passed: bool,
    stage: str = "run",
    tests: tuple[TestResult, ...] = (),
    stdout: str | None = None,
    error: str | None = None,
) -> Verdict:
    return Verdict(
        passed=passed,
        language=toolchain.language,
        stage="compile" if stage == "compile" else "run",
        tests=tests,
        exit_code=run.exit_code,
        signal=run.signal,
        killed_by=run.killed_by,
        duration_s=run.duration_s,
        stdout=run.stdout if stdout is None else stdout,
        stderr=run.stderr,
        error=error or run.jail_error,
    )


async def build(runner: Runner, toolchain: Toolchain, code: str, compile_limits: Limits) -> Built:
    source = {toolchain.source_name: code.encode()}
    if toolchain.compile_argv is None:
        return Built(source, frozenset())
    job = Job(
        argv=toolchain.compile_argv,
        mounts=toolchain.compile_mounts,
        limits=compile_limits,
        files=source,
        box_writable=True,
        collect=toolchain.artifact,
        env=COMPILE_ENV,
    )
    result = await runner(job)
    if not result.run.ok or result.artifact is None or toolchain.artifact is None:
        reason = (
            "compile error"
            if result.run.killed_by is None
            else f"compiler killed by {result.run.killed_by}"
        )
        return Built(
            {},
            frozenset(),
            _verdict(toolchain, result.run, passed=False, stage="compile", error=reason),
        )
    return Built({toolchain.artifact: result.artifact}, frozenset({toolchain.artifact}))


def program_job(toolchain: Toolchain, built: Built, limits: Limits, stdin: str) -> Job:
    return Job(
        argv=toolchain.run_argv,
        mounts=toolchain.run_mounts,
        limits=limits,
        files=built.files,
        executable=built.executable,
        stdin=stdin.encode(),
        min_address_space_mb=toolchain.min_address_space_mb,
    )


async def run_program(
    runner: Runner,
    toolchain: Toolchain,
    code: str,
    stdin: str,
    limits: Limits,
    compile_limits: Limits,
) -> Verdict:
    built = await build(runner, toolchain, code, compile_limits)
    if built.failure is not None:
        return built.failure
    run = (await runner(program_job(toolchain, built, limits, stdin))).run
    return _verdict(toolchain, run, passed=run.ok)


async def check_python(
    runner: Runner, toolchain: Toolchain, code: str, tests: list[TestCase], limits: Limits
) -> tuple[list[TestResult], RunResult, str, bool]:
    """All assert/pytest tests in one jailed harness process."""
    spec, nonce = build_spec(code, tests, limits.per_test_s)
    script = f"{BOX}/{toolchain.source_name}"
    argv = tuple(f"{BOX}/{HARNESS_NAME}" if arg == script else arg for arg in toolchain.run_argv)
    job = Job(
        argv=argv,
        mounts=toolchain.run_mounts,
        limits=limits,
        files={HARNESS_NAME: harness_source()},
        stdin=spec,
    )
    run = (await runner(job)).run
    results, done, own_stdout = interpret(run, tests, nonce)
    return results, run, own_stdout, done


async def check_io(
    runner: Runner, toolchain: Toolchain, built: Built, tests: list[TestCase], limits: Limits
) -> tuple[list[TestResult], RunResult | None]:
    """One run per stdin/stdout case; the last run's facts go into the verdict."""
    results: list[TestResult] = []
    last: RunResult | None = None
    for index, test in enumerate(tests):
        run = (await runner(program_job(toolchain, built, limits, test.stdin))).run
        last = run
        name = test.name or f"io_{index}"
        if not run.ok:
            reason = not_run_reason(run).replace("not run: ", "")
            results.append(TestResult(name=name, passed=False, reason=reason))
        elif outputs_match(run.stdout, test.expected_stdout):
            results.append(TestResult(name=name, passed=True))
        else:
            results.append(
                TestResult(
                    name=name,
                    passed=False,
                    reason=mismatch_reason(run.stdout, test.expected_stdout),
                )
            )
    return results, last
