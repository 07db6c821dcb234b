"""A build's progress read from the build tool's own output, for `atlas engines install`.

Ninja prints `[12/206] Building CXX object ...` before each step, CMake's Makefiles
`[ 16%] Building C object ...`; either line gives a fraction of the build. At a
terminal it drives a tqdm bar (percentage, steps, elapsed and remaining time);
elsewhere (CI logs, a pipe) one line every 10 %, so a log shows the build moving
without a line per step.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from typing import Any

# An optional colour escape, then the step counter at the start of the line.
_NINJA = re.compile(rb"^(?:\x1b\[[0-9;]*m)*\[(\d+)/(\d+)\]")
_MAKE = re.compile(rb"^(?:\x1b\[[0-9;]*m)*\[\s*(\d{1,3})%\]")
LOG_EVERY_PERCENT = 10

# llama-server alone (206 ninja steps) took 4 minutes with 2 jobs on this project's
# 2-core machines, 8 CPU-minutes; a busy or slower machine takes up to 2.5 times that.
BUILD_CPU_MINUTES = 8.0
SLOW_FACTOR = 2.5


def parse_step(line: bytes) -> tuple[int, int] | None:
    """(done, total) from one line of build output: steps for ninja, percent for make."""
    ninja = _NINJA.match(line)
    if ninja:
        done, total = int(ninja.group(1)), int(ninja.group(2))
        return (done, total) if 0 < total and done <= total else None
    make = _MAKE.match(line)
    if make and int(make.group(1)) <= 100:
        return int(make.group(1)), 100
    return None


def estimate_minutes(jobs: int) -> tuple[int, int]:
    """The likely range of the llama-server build's wall time with `jobs` parallel jobs."""
    fast = BUILD_CPU_MINUTES / max(1, jobs)
    return max(1, math.ceil(fast)), max(1, math.ceil(fast * SLOW_FACTOR))


def _minutes_seconds(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


class BuildProgress:
    """Feed it the build's output lines; it shows how far the build is."""

    def __init__(
        self,
        description: str,
        *,
        tty: bool | None = None,
        say: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._description = description
        self._tty = sys.stderr.isatty() if tty is None else tty
        self._say = say or _stderr_line
        self._clock = clock
        self._started = clock()
        self._bar: Any = None
        self._done = 0
        self._percent = 0
        self._next_log = LOG_EVERY_PERCENT

    @property
    def percent(self) -> int:
        return self._percent

    def feed(self, line: bytes) -> None:
        step = parse_step(line)
        if step is None:
            return
        done, total = step
        self._percent = done * 100 // total
        if self._tty:
            self._show_bar(done, total)
        elif self._percent >= self._next_log:
            self._say(self._line(done, total))
            self._next_log = (self._percent // LOG_EVERY_PERCENT + 1) * LOG_EVERY_PERCENT

    def _line(self, done: int, total: int) -> str:
        elapsed = self._clock() - self._started
        counted = f"{done}/{total} steps, " if total != 100 else ""
        left = elapsed * (total - done) / done if done else 0.0
        return (
            f"{self._description}: {self._percent}% ({counted}{_minutes_seconds(elapsed)} "
            f"so far, about {_minutes_seconds(left)} left)"
        )

    def _show_bar(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm  # a dependency; imported only when a bar is shown

            self._bar = tqdm(total=total, desc=self._description, unit="step", file=sys.stderr)
        if self._bar.total != total:
            self._bar.total = total
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _stderr_line(message: str) -> None:
    sys.stderr.write(f"atlas: {message}\n")
    sys.stderr.flush()


__all__ = ["BuildProgress", "estimate_minutes", "parse_step"]
