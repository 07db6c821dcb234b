"""The build's progress read from recorded output: ninja's log of a real llama-server
build (`atlas engines install`, 206 steps) and CMake's Makefiles on a small project."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engines.build_progress import BuildProgress, estimate_minutes, parse_step

DATA = Path(__file__).parent / "data"
NINJA_LOG = (DATA / "llama-server-build.ninja.log").read_bytes().splitlines(keepends=True)
MAKE_LOG = (DATA / "tiny-build.make.log").read_bytes().splitlines(keepends=True)


class Clock:
    """A clock the test moves, for the `so far` and `left` of each line."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ninja_and_make_lines_give_the_fraction_done() -> None:
    assert parse_step(b"[12/206] Building CXX object ggml/src/ggml.cpp.o\n") == (12, 206)
    assert parse_step(b"[ 16%] Building C object CMakeFiles/b.dir/b.c.o\n") == (16, 100)
    assert parse_step(b"[100%] Built target tiny\n") == (100, 100)
    assert parse_step(b"\x1b[32m[ 50%] Linking C static library liba.a\n") == (50, 100)
    for other in (b"-- Configuring done\n", b"  [3/4] not at the start\n", b"[5/4] x\n"):
        assert parse_step(other) is None


def test_the_recorded_llama_server_build_counts_every_step() -> None:
    steps = [s for s in map(parse_step, NINJA_LOG) if s is not None]
    assert len(steps) == 206 and steps[0] == (1, 206) and steps[-1] == (206, 206)
    assert len(NINJA_LOG) > len(steps)  # CMake's warnings in between are skipped


def test_off_a_terminal_a_line_every_ten_percent() -> None:
    said: list[str] = []
    clock = Clock()
    meter = BuildProgress("building llama-server", tty=False, say=said.append, clock=clock)
    for line in NINJA_LOG:
        clock.now += 1.0
        meter.feed(line)
    meter.close()
    assert [s.split(":")[1].split("%")[0].strip() for s in said] == [
        str(p) for p in range(10, 101, 10)
    ]
    assert said[0].startswith("building llama-server: 10% (21/206 steps, 0m")
    assert said[-1].endswith("about 0m00s left)")
    assert meter.percent == 100


def test_make_percentages_off_a_terminal() -> None:
    said: list[str] = []
    meter = BuildProgress("building tiny", tty=False, say=said.append, clock=Clock())
    for line in MAKE_LOG:
        meter.feed(line)
    assert [s.split("(")[0] for s in said] == [
        f"building tiny: {p}% " for p in (16, 33, 50, 66, 83, 100)
    ]


def test_at_a_terminal_a_bar_that_reaches_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stderr", screen)
    meter = BuildProgress("building llama-server", tty=True)
    for line in NINJA_LOG:
        meter.feed(line)
    meter.close()
    shown = screen.getvalue()
    assert "building llama-server: 100%" in shown and "206/206" in shown


def test_the_up_front_estimate_scales_with_jobs() -> None:
    assert estimate_minutes(2) == (4, 10)
    assert estimate_minutes(16) == (1, 2)
    assert estimate_minutes(0) == (8, 20)
