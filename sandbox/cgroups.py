"""cgroup v1 memory and pid limits, with a peak usage we can read after the run.

nsjail puts each jailed process in `<parent>/NSJAIL.<pid>` and removes that cgroup
when it exits, taking its counters along. So every run gets its own parent cgroup,
created here, carrying the real memory limit and a peak counter that survives.
A reused cgroup must start (almost) empty: page cache an earlier run read (node's 60 MB
library) stays charged to it and would bring the next run's peak to the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PARENT = "NSJAIL"
OOM_MARGIN_BYTES = 256 * 1024
REMOVE_TRIES = 200


@dataclass(frozen=True)
class CgroupSupport:
    memory_mount: str | None
    pids_mount: str | None
    reason: str = ""

    @property
    def enabled(self) -> bool:
        return self.memory_mount is not None and self.pids_mount is not None


def setup(root: str) -> CgroupSupport:
    """Create the parent cgroups nsjail needs; report why not when we cannot."""
    if os.geteuid() != 0:
        return CgroupSupport(None, None, "not root: rlimits only")
    mounts: dict[str, str] = {}
    for controller in ("memory", "pids"):
        mount = Path(root, controller)
        try:
            (mount / PARENT).mkdir(exist_ok=True)
            mounts[controller] = str(mount)
        except OSError as exc:
            logger.warning(
                "sandbox: no cgroup %s controller at %s (%s); rlimits only", controller, mount, exc
            )
            return CgroupSupport(None, None, f"cgroup {controller}: {exc}")
    return CgroupSupport(mounts["memory"], mounts["pids"])


class RunCgroup:
    """The per-run memory parent: limit on entry, OOM counter and removal on exit."""

    def __init__(self, memory_mount: str, limit_bytes: int, tag: str = "atlas") -> None:
        self.name = f"{PARENT}/{tag}-{secrets.token_hex(6)}"
        self.path = Path(memory_mount, self.name)
        self.limit_bytes = limit_bytes

    def create(self) -> None:
        self.path.mkdir()
        self.set_limit(self.limit_bytes)

    def discard(self) -> None:
        """Remove an empty cgroup that is not fit for use (best effort)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def set_limit(self, limit_bytes: int) -> None:
        """Set the limit and restart the peak counter, for a new run in this cgroup."""
        self.limit_bytes = limit_bytes
        limit = self.path / "memory.limit_in_bytes"
        # memsw may never be below the plain limit: lower the plain one first, raise it last.
        lowering = int(limit.read_text()) > limit_bytes
        if lowering:
            limit.write_text(str(limit_bytes))
        # Without swap accounting a memsw limit may be absent; the plain limit still holds.
        memsw = self.path / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            try:
                memsw.write_text(str(limit_bytes))
            except OSError as exc:
                logger.debug("sandbox: memsw limit not set: %s", exc)
        if not lowering:
            limit.write_text(str(limit_bytes))
        (self.path / "memory.max_usage_in_bytes").write_text("0")

    def idle(self) -> bool:
        """Empty and without nsjail's child cgroup: fit for the next run."""
        try:
            has_children = any(entry.is_dir() for entry in os.scandir(self.path))
            return not has_children and not (self.path / "cgroup.procs").read_text().strip()
        except OSError:
            return False

    def hit_limit(self) -> bool:
        """Whether usage reached the limit. cgroup v1 counts `oom_kill` in the task's own
        cgroup, which nsjail deletes, so a peak at the limit is the evidence we keep. It
        also covers a run that never gets OOM-killed: with no swap the kernel evicts the
        program's own code pages and refaults them until the CPU limit kills it. The peak
        is this run's own only because a run starts with (almost) nothing charged."""
        try:
            peak = int((self.path / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError) as exc:
            logger.warning("sandbox: cannot read %s: %s", self.path, exc)
            return False
        return peak >= self.limit_bytes - OOM_MARGIN_BYTES

    def carried_bytes(self) -> int:
        """Memory still charged here from earlier runs: page cache they read stays charged
        to this cgroup, not to a later reader, until the cgroup is removed (then it moves
        to the parent, which has no limit)."""
        return int((self.path / "memory.usage_in_bytes").read_text())

    def kill_all(self) -> None:
        """SIGKILL every process left in this cgroup tree (nsjail's child cgroup included)."""
        for procs in self.path.rglob("cgroup.procs"):
            try:
                pids = procs.read_text().split()
            except OSError:
                continue  # the child cgroup went away under us: nothing left to kill there
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)

    async def remove(self) -> None:
        """Kill what is left, then remove the tree; dying processes take a few ms to leave."""
        for _ in range(REMOVE_TRIES):
            self.kill_all()
            try:
                for child in sorted(self.path.iterdir(), reverse=True):
                    if child.is_dir():
                        child.rmdir()
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                await asyncio.sleep(0.01)
        logger.warning("sandbox: cgroup %s still busy; processes may have survived", self.path)
