"""The supervisor on plain (unjailed, trusted) processes: caps, timers, no leftovers."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from sandbox.process import run_process

SH = "/bin/sh"


async def test_exit_status_output_and_cpu_accounting() -> None:
    outcome = await run_process(
        [SH, "-c", "echo out; echo err >&2; exit 3"],
        stdin_path=os.devnull,
        wall_s=5,
        output_cap=1024,
    )
    assert os.waitstatus_to_exitcode(outcome.status) == 3
    assert (outcome.stdout, outcome.stderr) == (b"out\n", b"err\n")
    assert not outcome.wall_killed and not outcome.output_killed


async def test_cpu_seconds_come_from_wait4() -> None:
    busy = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"
    outcome = await run_process([SH, "-c", busy], stdin_path=os.devnull, wall_s=20, output_cap=1024)
    assert outcome.cpu_s > 0.1
    assert outcome.cpu_s <= outcome.duration_s + 0.05


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_wall_limit_kills_the_whole_group() -> None:
    started = time.monotonic()
    outcome = await run_process(
        [SH, "-c", "trap '' TERM; sleep 30 & echo $!; sleep 30"],
        stdin_path=os.devnull,
        wall_s=0.3,
        output_cap=1024,
    )
    assert outcome.wall_killed
    assert os.waitstatus_to_exitcode(outcome.status) == -signal.SIGKILL  # TERM was ignored
    assert time.monotonic() - started < 2
    background = int(outcome.stdout)
    for _ in range(50):
        if not alive(background):
            break
        await asyncio.sleep(0.02)
    assert not alive(background)


async def test_output_cap_kills_while_reading() -> None:
    outcome = await run_process([SH, "-c", "yes"], stdin_path=os.devnull, wall_s=5, output_cap=4096)
    assert outcome.output_killed and outcome.stdout_truncated
    assert len(outcome.stdout) == 4096


async def test_the_event_loop_keeps_running() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await run_process([SH, "-c", "sleep 0.3"], stdin_path=os.devnull, wall_s=5, output_cap=1024)
    task.cancel()
    assert ticks >= 15


async def test_cancellation_kills_and_reaps() -> None:
    task = asyncio.create_task(
        run_process([SH, "-c", "sleep 30"], stdin_path=os.devnull, wall_s=60, output_cap=1024)
    )
    await asyncio.sleep(0.1)
    task.cancel()
    started = time.monotonic()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert time.monotonic() - started < 2
