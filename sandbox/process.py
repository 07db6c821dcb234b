"""Spawn a process in its own session and supervise it from the event loop.

We spawn with posix_spawn and wait through a pidfd instead of asyncio's subprocess
support because we need wait4's resource usage (CPU seconds of the process and the
children it reaped) to tell a CPU-limit kill from the others, and because output
must be capped while it is read, killing the whole process group past the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

READ_CHUNK = 65536
LOG_CAP = 64 * 1024
DRAIN_GRACE_S = 0.2
KILL_GRACE_S = 0.1


@dataclass
class Outcome:
    """Raw facts about a finished process, before any interpretation."""

    status: int  # os.wait4 status word
    cpu_s: float
    duration_s: float
    stdout: bytes
    stderr: bytes
    log: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_killed: bool
    output_killed: bool


@dataclass
class _Stream:
    fd: int
    cap: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    eof: bool = False


class _Supervisor:
    def __init__(
        self, pid: int, streams: list[_Stream], kill_on_cap: int, on_kill: Callable[[], None] | None
    ) -> None:
        self.pid = pid
        self.on_kill = on_kill
        self.streams = streams
        self.kill_on_cap = kill_on_cap  # streams[:kill_on_cap] kill the process past their cap
        self.exited: asyncio.Future[tuple[int, float]] = asyncio.get_running_loop().create_future()
        self.output_killed = False
        self.grace: asyncio.TimerHandle | None = None
        self.all_eof = asyncio.Event()
        self.pidfd = os.pidfd_open(pid)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for index, stream in enumerate(self.streams):
            os.set_blocking(stream.fd, False)
            loop.add_reader(stream.fd, self._on_readable, index)
        loop.add_reader(self.pidfd, self._on_exit)

    def _on_readable(self, index: int) -> None:
        stream = self.streams[index]
        try:
            chunk = os.read(stream.fd, READ_CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            stream.eof = True
            asyncio.get_running_loop().remove_reader(stream.fd)
            if all(s.eof for s in self.streams):
                self.all_eof.set()
            return
        room = stream.cap - len(stream.data)
        if len(chunk) > room:
            stream.data += chunk[: max(room, 0)]
            stream.truncated = True
            if index < self.kill_on_cap and not self.output_killed:
                self.output_killed = True
                self.kill()
        else:
            stream.data += chunk

    def _on_exit(self) -> None:
        with contextlib.suppress(ChildProcessError):
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid == 0:
                return
            if not self.exited.done():
                self.exited.set_result((status, usage.ru_utime + usage.ru_stime))
        asyncio.get_running_loop().remove_reader(self.pidfd)

    def kill(self) -> None:
        if self.grace is None and not self.exited.done():
            # The jailed tree first (cgroup kill), and SIGTERM to nsjail, which then kills and
            # reaps its child and logs how it ended; SIGKILL for the whole group after a grace.
            if self.on_kill is not None:
                self.on_kill()
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGTERM)
            self.grace = asyncio.get_running_loop().call_later(KILL_GRACE_S, self.kill_group)
            return
        if self.on_kill is not None:
            self.on_kill()
        self.kill_group()

    def kill_group(self) -> None:
        # The process leads its own session: the group holds it and anything it forked.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    async def drain(self) -> None:
        """Read what is left in the pipes; stop early if a stray writer keeps them open."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_eof.wait(), DRAIN_GRACE_S)

    def close(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
        loop = asyncio.get_running_loop()
        for stream in self.streams:
            loop.remove_reader(stream.fd)
            os.close(stream.fd)
        loop.remove_reader(self.pidfd)
        os.close(self.pidfd)


def _spawn(argv: list[str], stdin_path: str, env: dict[str, str]) -> tuple[int, list[int]]:
    """Spawn argv with stdin from a file and stdout, stderr and fd 3 (a log) on pipes."""
    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int] | tuple[int, str]] = [
        (os.POSIX_SPAWN_OPEN, 0, stdin_path, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, pipes[0][1], 1),
        (os.POSIX_SPAWN_DUP2, pipes[1][1], 2),
        (os.POSIX_SPAWN_DUP2, pipes[2][1], 3),
    ]
    try:
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
    except BaseException:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)
        raise
    for _, write_end in pipes:
        os.close(write_end)
    return pid, [read_end for read_end, _ in pipes]


async def run_process(
    argv: list[str],
    *,
    stdin_path: str,
    wall_s: float,
    output_cap: int,
    env: dict[str, str] | None = None,
    on_kill: Callable[[], None] | None = None,
) -> Outcome:
    """Run argv to completion or until the wall limit or the output cap; never blocks."""
    started = time.monotonic()
    pid, fds = _spawn(argv, stdin_path, env or {})
    streams = [_Stream(fds[0], output_cap), _Stream(fds[1], output_cap), _Stream(fds[2], LOG_CAP)]
    sup = _Supervisor(pid, streams, kill_on_cap=2, on_kill=on_kill)
    wall_killed = False
    try:
        sup.start()
        try:
            await asyncio.wait_for(asyncio.shield(sup.exited), wall_s)
        except TimeoutError:
            wall_killed = not sup.exited.done()
            sup.kill()
        status, cpu_s = await sup.exited
        duration = time.monotonic() - started
        sup.kill()  # nothing the program started outlives it
        await sup.drain()
    finally:
        if not sup.exited.done():
            sup.kill()
            await _reap(pid)
        sup.close()
    out, err, log = streams
    return Outcome(
        status=status,
        cpu_s=cpu_s,
        duration_s=duration,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        log=bytes(log.data),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        wall_killed=wall_killed,
        output_killed=sup.output_killed,
    )


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


async def _reap(pid: int) -> None:
    """Reap a killed child after a cancellation, without blocking the loop."""
    for _ in range(200):
        if _reaped(pid):
            return
        await asyncio.sleep(0.01)
    logger.warning("sandbox: child %d not reaped after SIGKILL; leaving it to a thread", pid)
    await asyncio.to_thread(os.waitpid, pid, 0)
