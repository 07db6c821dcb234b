"""The documented-unsafe backend still decides verdicts and enforces its timer and caps."""

from __future__ import annotations

import pytest

from sandbox import Limits, Program, Sandbox, SandboxConfig, TestCase


@pytest.fixture
async def unsafe() -> Sandbox:
    sandbox = await Sandbox.create(
        SandboxConfig(
            backend="unsafe-subprocess",
            limits=Limits(wall_time_s=1.0, cpu_time_s=1, memory_mb=256, output_bytes=4096),
        )
    )
    assert sandbox.available, sandbox.availability
    return sandbox


async def test_verdicts_and_limits(unsafe: Sandbox) -> None:
    tests = [
        TestCase(kind="assert", code="assert f(2) == 4"),
        TestCase(kind="io", stdin="", expected_stdout=""),
    ]
    good = await unsafe.check("def f(x):\n    return x * x\n", tests, "python")
    assert good.passed, good
    slow = await unsafe.run(Program(language="python", code="import time\ntime.sleep(5)"))
    assert slow.killed_by == "wall_time"
    flood = await unsafe.run(Program(language="python", code="while True: print('x' * 999)"))
    assert flood.killed_by == "output" and len(flood.stdout) < 4200
    spin = await unsafe.run(
        Program(language="python", code="while True: pass"), Limits(wall_time_s=3, cpu_time_s=1)
    )
    assert spin.killed_by == "cpu_time"
