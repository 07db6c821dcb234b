"""Turn raw process facts into a RunResult: who killed it, and how it ended.

nsjail exits with 128+signal when the jailed process is signalled, so `exit(137)` and
SIGKILL look alike from outside: we read nsjail's own log line instead. A wall-time
kill, an OOM kill and an RLIMIT_CPU kill all arrive as SIGKILL; we tell them apart
with our own timer, the run's cgroup OOM counter and wait4's CPU accounting.
"""

from __future__ import annotations

import os
import re
import signal as signals

from sandbox.config import Limits
from sandbox.process import Outcome
from sandbox.verdict import KilledBy, RunResult

_EXIT_LINE = re.compile(
    rb"\(\[STANDALONE MODE\]\) (?:exited with status: (\d+)|terminated with signal: \S+ \((\d+)\))"
)
# RLIMIT_CPU is checked on scheduler ticks and wait4 reports a little less than the
# kernel charged (0.92 s for a 1 s kill of node, seen here): allow for both.
CPU_SLACK = 0.75
TEXT_LIMIT_NOTE = "\n[... truncated]"


def jailed_status(log: bytes) -> tuple[int | None, int | None]:
    """(exit code, signal) of the jailed process, from nsjail's log; (None, None) if absent."""
    match = _EXIT_LINE.search(log)
    if match is None:
        return None, None
    if match.group(1) is not None:
        return int(match.group(1)), None
    return None, int(match.group(2))


def jail_error(log: bytes) -> str:
    """The most telling line of a failed nsjail start, for operators."""
    lines = [
        line
        for line in log.decode("utf-8", "replace").splitlines()
        if line.startswith(("[E]", "[F]"))
    ]
    return lines[0] if lines else "nsjail failed without an error line"


def classify(
    *,
    sig: int | None,
    wall_killed: bool,
    output_killed: bool,
    oom_killed: bool,
    cpu_s: float,
    limits: Limits,
) -> KilledBy | None:
    """Who ended the run, in order of certainty: our own kills first."""
    if output_killed:
        return "output"
    if wall_killed:
        return "wall_time"
    if oom_killed and sig == signals.SIGKILL:
        return "memory"
    if sig in (signals.SIGKILL, signals.SIGXCPU) and cpu_s >= limits.cpu_time_s * CPU_SLACK:
        return "cpu_time"
    if sig is not None:
        return "signal"
    return None


def text(data: bytes, truncated: bool) -> str:
    decoded = data.decode("utf-8", "replace")
    return decoded + TEXT_LIMIT_NOTE if truncated else decoded


def strip_loader_noise(stderr: bytes, binary: str) -> bytes:
    """Drop the dynamic loader's 'no version information' warnings about nsjail itself."""
    prefix = binary.encode() + b": "
    kept = [line for line in stderr.splitlines(keepends=True) if not line.startswith(prefix)]
    return b"".join(kept)


def decode_jailed(
    outcome: Outcome, *, limits: Limits, oom_killed: bool, nsjail_binary: str
) -> RunResult:
    exit_code, sig = jailed_status(outcome.log)
    if exit_code is None and sig is None and not (outcome.wall_killed or outcome.output_killed):
        return RunResult(
            exit_code=None,
            duration_s=outcome.duration_s,
            jail_error=jail_error(outcome.log),
            stderr=text(outcome.stderr, outcome.stderr_truncated),
        )
    killed_by = classify(
        sig=sig,
        wall_killed=outcome.wall_killed,
        output_killed=outcome.output_killed,
        oom_killed=oom_killed,
        cpu_s=outcome.cpu_s,
        limits=limits,
    )
    stderr = strip_loader_noise(outcome.stderr, nsjail_binary)
    return RunResult(
        exit_code=exit_code,
        signal=sig,
        killed_by=killed_by,
        duration_s=outcome.duration_s,
        cpu_s=outcome.cpu_s,
        stdout=text(outcome.stdout, outcome.stdout_truncated),
        stderr=text(stderr, outcome.stderr_truncated),
        stdout_truncated=outcome.stdout_truncated,
        stderr_truncated=outcome.stderr_truncated,
    )


def decode_plain(outcome: Outcome, *, limits: Limits) -> RunResult:
    """Decode a process we spawned directly (the unsafe backend): wait4 tells all."""
    status = outcome.status
    exit_code = os.waitstatus_to_exitcode(status)
    sig = -exit_code if exit_code < 0 else None
    killed_by = classify(
        sig=sig,
        wall_killed=outcome.wall_killed,
        output_killed=outcome.output_killed,
        oom_killed=False,
        cpu_s=outcome.cpu_s,
        limits=limits,
    )
    return RunResult(
        exit_code=None if sig else exit_code,
        signal=sig,
        killed_by=killed_by,
        duration_s=outcome.duration_s,
        cpu_s=outcome.cpu_s,
        stdout=text(outcome.stdout, outcome.stdout_truncated),
        stderr=text(outcome.stderr, outcome.stderr_truncated),
        stdout_truncated=outcome.stdout_truncated,
        stderr_truncated=outcome.stderr_truncated,
    )
