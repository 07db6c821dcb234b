from __future__ import annotations

import signal

import pytest

from sandbox.config import Limits
from sandbox.decode import classify, jailed_status, strip_loader_noise

LIMITS = Limits(cpu_time_s=2)
LOG_EXIT = b"[I][2026] pid=12 ([STANDALONE MODE]) exited with status: 137, (PIDs left: 0)\n"
LOG_SIGNAL = (
    b"[I][2026] pid=12 ([STANDALONE MODE]) terminated with signal: SIGKILL (9), (PIDs left: 0)\n"
)


def test_exit_137_is_not_a_signal() -> None:
    assert jailed_status(LOG_EXIT) == (137, None)
    assert jailed_status(LOG_SIGNAL) == (None, 9)
    assert jailed_status(b"[E] failed to mount\n") == (None, None)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            {
                "sig": 9,
                "wall_killed": False,
                "output_killed": True,
                "oom_killed": False,
                "cpu_s": 0.1,
            },
            "output",
        ),
        (
            {
                "sig": 9,
                "wall_killed": True,
                "output_killed": False,
                "oom_killed": False,
                "cpu_s": 0.1,
            },
            "wall_time",
        ),
        (
            {
                "sig": 9,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": True,
                "cpu_s": 0.1,
            },
            "memory",
        ),
        # Our own timer is the surest fact: a fork bomb can also fill its memory cgroup.
        (
            {
                "sig": 9,
                "wall_killed": True,
                "output_killed": False,
                "oom_killed": True,
                "cpu_s": 0.1,
            },
            "wall_time",
        ),
        (
            {
                "sig": 9,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": False,
                "cpu_s": 2.0,
            },
            "cpu_time",
        ),
        (
            {
                "sig": signal.SIGXCPU,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": False,
                "cpu_s": 1.6,
            },
            "cpu_time",
        ),
        (
            {
                "sig": 9,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": False,
                "cpu_s": 0.2,
            },
            "signal",
        ),
        (
            {
                "sig": 11,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": True,
                "cpu_s": 0.2,
            },
            "signal",
        ),
        (
            {
                "sig": None,
                "wall_killed": False,
                "output_killed": False,
                "oom_killed": False,
                "cpu_s": 5.0,
            },
            None,
        ),
    ],
)
def test_kills_are_told_apart(facts: dict[str, object], expected: str | None) -> None:
    assert classify(limits=LIMITS, **facts) == expected  # type: ignore[arg-type]


def test_loader_noise_about_nsjail_only_is_dropped() -> None:
    noise = b"/x/nsjail: /lib/libnl-3.so.200: no version information available\n"
    assert strip_loader_noise(noise + b"real error\n", "/x/nsjail") == b"real error\n"
