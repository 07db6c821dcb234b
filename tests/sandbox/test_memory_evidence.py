"""A memory kill is reported only on evidence that the program itself ran out of memory.

Run cgroups are reused, and page cache charged to one stays there: the next run's peak
usage can reach the limit though the program holds little. That once turned a CPU-time
kill of node into a "memory" verdict (the CI flake this file pins down).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox import Program, Sandbox
from sandbox.backends import NsjailBackend
from tests.sandbox.conftest import ATTACK_LIMITS, has_cgroups

# Holds 8 MB (of 128) and spins: a CPU-time kill however the cgroup's charge rounds.
HOLD_AND_SPIN = 'held = b"x" * (8 * 1024 * 1024)\nwhile True:\n    pass\n'
HELD_MB = 8
HOARD = "hoard = []\nwhile True:\n    hoard.append(bytearray(8 * 1024 * 1024))\n"


def fill_page_cache(cgroup: Path, scratch: Path, size_mb: int) -> None:
    """Read a file nobody has cached from a process inside `cgroup`: its pages are charged
    there and stay after the reader exits."""
    data = scratch / "cold.bin"
    with data.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1024 * 1024))
        handle.flush()
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    subprocess.run(
        ["sh", "-c", f'echo $$ > "{cgroup}/cgroup.procs" && exec cat "{data}" > /dev/null'],
        check=True,
        timeout=60,
    )


def next_reused_cgroup(sandbox: Sandbox) -> Path:
    """The cgroup the next run would take: the one released last."""
    backend = sandbox.backend
    assert isinstance(backend, NsjailBackend)
    assert backend.idle_cgroups, "a finished run leaves its cgroup to reuse"
    return backend.idle_cgroups[-1].path


@pytest.fixture
async def cache_filled(sandbox: Sandbox, tmp_path: Path) -> Path:
    """The cgroup the next run takes, with page cache up to its limit already charged."""
    if not has_cgroups(sandbox):
        pytest.skip("needs the memory cgroup (root)")
    await sandbox.run(Program(language="python", code="print(1)"))
    cgroup = next_reused_cgroup(sandbox)
    fill_page_cache(cgroup, tmp_path, ATTACK_LIMITS.memory_mb + 32)
    return cgroup


@pytest.mark.nsjail
async def test_page_cache_at_the_limit_is_not_a_memory_kill(
    sandbox: Sandbox, cache_filled: Path
) -> None:
    # The kernel reclaims before the last large folio fits, so the cache stops a little
    # short of the limit; what the spin holds must still carry a reused cgroup there.
    carried = int((cache_filled / "memory.usage_in_bytes").read_text())
    assert carried >= (ATTACK_LIMITS.memory_mb - HELD_MB) << 20, "the cache must near the limit"

    verdict = await sandbox.run(Program(language="python", code=HOLD_AND_SPIN))

    assert verdict.killed_by == "cpu_time", verdict


@pytest.mark.nsjail
async def test_hoarding_after_page_cache_is_still_a_memory_kill(
    sandbox: Sandbox, cache_filled: Path
) -> None:
    verdict = await sandbox.run(Program(language="python", code=HOARD))

    assert verdict.killed_by == "memory", verdict
