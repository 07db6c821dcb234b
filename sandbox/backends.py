"""Backends run one Job: nsjail (the safe default) or a plain, unsafe subprocess."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sandbox import cgroups, decode, jail
from sandbox.config import Limits
from sandbox.languages import BOX, Mount
from sandbox.process import run_process
from sandbox.verdict import RunResult

logger = logging.getLogger(__name__)

NOBODY_ID = 65534
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
# A reused cgroup may bring this share of the next limit already charged (page cache).
CARRIED_SHARE = 1 / 32


@dataclass(frozen=True)
class Job:
    """One process to run: argv uses BOX for the per-run directory holding `files`."""

    argv: tuple[str, ...]
    mounts: tuple[Mount, ...]
    limits: Limits
    files: Mapping[str, bytes] = field(default_factory=dict)
    executable: frozenset[str] = frozenset()
    stdin: bytes = b""
    box_writable: bool = False
    collect: str | None = None  # a file of the box to read back after the run
    min_address_space_mb: int = 0
    env: tuple[str, ...] = ()  # the jail's whole environment ("NAME=value")


@dataclass(frozen=True)
class JobResult:
    run: RunResult
    artifact: bytes | None = None


class Backend(Protocol):
    name: str

    async def run(self, job: Job) -> JobResult: ...

    async def close(self) -> None: ...


@contextlib.contextmanager
def staged(job: Job, base: str | None) -> Iterator[tuple[str, str]]:
    """A private directory with the box (what the program sees) and its stdin file beside it.

    stdin lives outside the box so the program cannot reopen it by path.
    """
    root = tempfile.mkdtemp(prefix="atlas-sandbox-", dir=base)
    try:
        box = os.path.join(root, "box")
        os.mkdir(box)
        for name, content in job.files.items():
            path = os.path.join(box, name)
            with open(path, "wb") as handle:
                handle.write(content)
            os.chmod(path, 0o755 if name in job.executable else 0o644)
        os.chmod(root, 0o711)
        os.chmod(box, 0o755)
        if job.box_writable and os.geteuid() == 0:
            os.chown(box, NOBODY_ID, NOBODY_ID)
        stdin_path = os.path.join(root, "stdin")
        with open(stdin_path, "wb") as handle:
            handle.write(job.stdin)
        os.chmod(stdin_path, 0o600)
        yield box, stdin_path
    finally:
        shutil.rmtree(root, ignore_errors=True)


def read_artifact(box: str, name: str | None) -> bytes | None:
    if name is None:
        return None
    path = os.path.join(box, name)
    try:
        # The box was writable by the jail: refuse links and anything but a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read(MAX_ARTIFACT_BYTES)


def _write_config(directory: str, text: str) -> str:
    path = os.path.join(directory, "nsjail.cfg")
    with open(path, "w") as handle:
        handle.write(text)
    return path


class NsjailBackend:
    name = "nsjail"

    def __init__(
        self, binary: str, cgroup_support: cgroups.CgroupSupport, workdir: str | None
    ) -> None:
        self.binary = str(binary)
        self.cgroups = cgroup_support
        self.workdir = workdir
        self.cgroup_tag = "atlas"  # names this process's run cgroups; tests tell theirs apart
        self.idle_cgroups: list[cgroups.RunCgroup] = []

    async def run(self, job: Job) -> JobResult:
        with staged(job, self.workdir) as (box, stdin_path):
            run_cgroup = self._run_cgroup(job)
            try:
                result = await self._run_in(job, box, stdin_path, run_cgroup)
            finally:
                if run_cgroup is not None:
                    await self._release(run_cgroup)
            return JobResult(result, read_artifact(box, job.collect))

    def _run_cgroup(self, job: Job) -> cgroups.RunCgroup | None:
        """This run's memory cgroup; without one the address-space rlimit is the limit.

        Idle cgroups are reused (mkdir and rmdir cost 2 ms a run, 10% of a verdict)."""
        if self.cgroups.memory_mount is None:
            return None
        limit = job.limits.memory_mb * 1024 * 1024
        while self.idle_cgroups:
            reused = self.idle_cgroups.pop()
            try:
                if reused.carried_bytes() > limit * CARRIED_SHARE:
                    reused.discard()  # its charges move to the parent; the next one is clean
                    continue
                reused.set_limit(limit)
                return reused
            except OSError as exc:
                logger.warning("sandbox: cgroup %s not reusable: %s", reused.path, exc)
                reused.discard()
        run_cgroup = cgroups.RunCgroup(
            self.cgroups.memory_mount, job.limits.memory_mb * 1024 * 1024, self.cgroup_tag
        )
        try:
            run_cgroup.create()
        except OSError as exc:
            logger.warning(
                "sandbox: cannot create cgroup %s (%s); rlimits only for this run",
                run_cgroup.path,
                exc,
            )
            run_cgroup.discard()
            return None
        return run_cgroup

    async def _release(self, run_cgroup: cgroups.RunCgroup) -> None:
        run_cgroup.kill_all()
        if run_cgroup.idle():
            self.idle_cgroups.append(run_cgroup)
        else:
            await run_cgroup.remove()

    async def close(self) -> None:
        """Remove the idle cgroups kept for reuse."""
        while self.idle_cgroups:
            await self.idle_cgroups.pop().remove()

    async def _run_in(
        self, job: Job, box: str, stdin_path: str, run_cgroup: cgroups.RunCgroup | None
    ) -> RunResult:
        spec = jail.JailSpec(
            argv=tuple(arg.replace(BOX, jail.BOX_IN_JAIL) for arg in job.argv),
            mounts=job.mounts,
            box_host_dir=box,
            box_writable=job.box_writable,
            limits=job.limits,
            min_address_space_mb=job.min_address_space_mb,
            env=job.env,
            memory_cgroup_parent=run_cgroup.name if run_cgroup else None,
            pids_cgroup=self.cgroups.pids_mount is not None,
        )
        config_path = _write_config(os.path.dirname(box), jail.render(jail.build_config(spec)))
        argv = [self.binary, "--config", config_path, "--log_fd", "3"]
        outcome = await run_process(
            argv,
            stdin_path=stdin_path,
            wall_s=job.limits.wall_time_s,
            output_cap=job.limits.output_bytes,
            on_kill=run_cgroup.kill_all if run_cgroup else None,
        )
        oom = run_cgroup.hit_limit() if run_cgroup else False
        result = decode.decode_jailed(
            outcome, limits=job.limits, oom_killed=oom, nsjail_binary=self.binary
        )
        if result.jail_error:
            logger.warning("sandbox: nsjail failed: %s", result.jail_error)
        return result


class UnsafeSubprocessBackend:
    """Runs code as a plain child of the gateway. NOT a security boundary."""

    name = "unsafe-subprocess"

    def __init__(self, workdir: str | None) -> None:
        self.workdir = workdir
        self.prlimit = shutil.which("prlimit")
        self.env = shutil.which("env")

    def _argv(self, job: Job, box: str) -> list[str]:
        argv = [arg.replace(BOX, box) for arg in job.argv]
        if self.env is not None:
            argv = [self.env, "-C", box, *argv]  # posix_spawn has no chdir before 3.13
        if self.prlimit is None:
            return argv
        limits = job.limits
        caps = [
            f"--cpu={limits.cpu_time_s}",
            f"--fsize={limits.max_file_mb << 20}",
            f"--nofile={limits.max_open_files}",
        ]
        address_space = max(limits.memory_mb, job.min_address_space_mb)
        caps.append(f"--as={address_space << 20}")
        return [self.prlimit, *caps, "--", *argv]

    async def close(self) -> None:
        """Nothing kept between runs."""

    async def run(self, job: Job) -> JobResult:
        with staged(job, self.workdir) as (box, stdin_path):
            if job.box_writable:
                os.chmod(box, 0o777)
            outcome = await run_process(
                self._argv(job, box),
                stdin_path=stdin_path,
                wall_s=job.limits.wall_time_s,
                output_cap=job.limits.output_bytes,
                env={"PATH": "/usr/bin:/bin", "HOME": box, "LANG": "C.UTF-8"},
            )
            result = decode.decode_plain(outcome, limits=job.limits)
            return JobResult(result, read_artifact(box, job.collect))
