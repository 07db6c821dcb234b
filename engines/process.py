"""One supervised child process: a small state machine with one owner, generic over a
`Recipe` (how to launch it, how to tell it is healthy, how to ask it to stop).

    stopped --ensure_ready()--> starting --healthy--> ready
    starting --exits or deadline--> failed (first start) | starting again (a restart)
    ready --process exits--> starting (after a back-off) | failed (too many crashes)
    starting | ready --stop()--> stopping --> stopped;  failed --stop()--> stopped

`NEXT_STATE` holds exactly these changes and `_set_state` refuses any other.

The supervisor task is the only writer of the state and of the process handle while it
runs; `stop()` cancels it first and then ends the process group (the recipe's polite
request if it has one, SIGTERM, a grace period, SIGKILL). Output goes to a bounded ring
buffer and to the debug log. llama-server (`engines/supervisor.py`) and the embedded
redis-server (`engines/redis_server.py`) are the two recipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from config.engines import SupervisionSettings

logger = logging.getLogger(__name__)

HEALTH_POLL_S = 0.1
ERROR_LOG_LINES = 20


class ProcessState(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    FAILED = "failed"


# Every state change the supervisor makes, and no other. starting -> starting is each
# new attempt (`_start_once`) after ensure_ready() or a crash already said "starting".
NEXT_STATE: dict[ProcessState, frozenset[ProcessState]] = {
    ProcessState.STOPPED: frozenset({ProcessState.STARTING}),
    ProcessState.STARTING: frozenset(
        {ProcessState.STARTING, ProcessState.READY, ProcessState.FAILED, ProcessState.STOPPING}
    ),
    ProcessState.READY: frozenset(
        {ProcessState.STARTING, ProcessState.FAILED, ProcessState.STOPPING}
    ),
    ProcessState.STOPPING: frozenset({ProcessState.STOPPED}),
    ProcessState.FAILED: frozenset({ProcessState.STOPPED}),
}


class ProcessStateError(RuntimeError):
    """A state change outside `NEXT_STATE`: a bug in the supervisor, never a crash."""

    def __init__(self, label: str, old: ProcessState, new: ProcessState) -> None:
        super().__init__(f"{label}: {old} -> {new} is not an allowed state change")
        self.old = old
        self.new = new


class ProcessStartError(Exception):
    """A process did not become ready; the message carries its last output lines."""

    def __init__(self, label: str, reason: str, logs: list[str]) -> None:
        tail = "\n".join(logs[-ERROR_LOG_LINES:])
        output = f"; last output:\n{tail}" if tail else ""
        super().__init__(f"{label} {reason}{output}")
        self.reason = reason
        self.logs = logs


class LaunchError(Exception):
    """A recipe cannot build this start's command line (a missing flag, a bad path)."""


@dataclass(frozen=True, slots=True)
class Launch:
    """One start: the command line, and the address it will serve once healthy."""

    argv: list[str]
    address: str


class Recipe(Protocol):
    """What differs between supervised programs; the state machine is the same."""

    kind: str  # names the process in messages: "engine", "redis-server"
    health_check: str  # what a start waits for, in messages: "/health", "PING"

    async def launch(self) -> Launch: ...

    async def healthy(self, address: str) -> bool: ...

    async def ask_to_stop(self, address: str) -> bool:
        """Ask the process to exit on its own before any signal; True if asked."""
        ...


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    start_timeout_s: float
    stop_grace_s: float
    restart_backoff_s: float  # doubled after each crash ...
    restart_backoff_max_s: float  # ... up to this
    max_restarts: int  # more crashes than this within restart_window_s: failed
    restart_window_s: float
    log_lines: int


def restart_policy(settings: SupervisionSettings, log_lines: int) -> RestartPolicy:
    return RestartPolicy(
        start_timeout_s=settings.start_timeout_s,
        stop_grace_s=settings.stop_grace_s,
        restart_backoff_s=settings.restart_backoff_s,
        restart_backoff_max_s=settings.restart_backoff_max_s,
        max_restarts=settings.max_restarts,
        restart_window_s=settings.restart_window_s,
        log_lines=log_lines,
    )


StateListener = Callable[["SupervisedProcess"], None]


class SupervisedProcess:
    def __init__(
        self,
        name: str,
        recipe: Recipe,
        policy: RestartPolicy,
        *,
        on_state: StateListener | None = None,
    ) -> None:
        self._name = name
        self._recipe = recipe
        self.policy = policy
        self._on_state = on_state
        self._state = ProcessState.STOPPED
        self._changed = asyncio.Event()  # replaced by a fresh one at every change
        self._logs: deque[str] = deque(maxlen=policy.log_lines)
        self._crashes: deque[float] = deque()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._serving = False  # the process in _proc passed its health check
        self.address: str | None = None
        self.last_error: str | None = None
        self.restarts = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def label(self) -> str:
        return f"{self._recipe.kind} {self._name!r}"

    @property
    def state(self) -> ProcessState:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def last_logs(self, n: int | None = None) -> list[str]:
        lines = list(self._logs)
        return lines if n is None else lines[-n:]

    async def ensure_ready(self) -> str:
        """Start the process unless it runs, wait until it is ready, return its address."""
        if self._task is None or self._task.done():
            if self._state is ProcessState.FAILED:
                raise ProcessStartError(self.label, f"failed: {self.last_error}", self.last_logs())
            self._crashes.clear()
            self._set_state(ProcessState.STARTING)
            self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")
        while self._state not in (ProcessState.READY, ProcessState.FAILED, ProcessState.STOPPED):
            await self._changed.wait()
        if self._state is ProcessState.READY and self.address is not None:
            return self.address
        raise ProcessStartError(
            self.label, f"is {self._state}: {self.last_error}", self.last_logs()
        )

    async def stop(self) -> None:
        """Stop supervising and end the process group; idempotent."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            self._set_state(ProcessState.STOPPING)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._terminate()
        if self._state is not ProcessState.STOPPED:
            self._set_state(ProcessState.STOPPED)

    # The supervisor task: the only writer of state while it runs.

    async def _supervise(self) -> None:
        try:
            await self._supervise_loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an OS error: fail visibly, never hang waiters
            logger.exception("%s: supervisor crashed", self.label)
            self._fail(f"supervisor error: {type(exc).__name__}: {exc}")

    async def _supervise_loop(self) -> None:
        first = True
        while True:
            try:
                proc = await self._start_once()
            except ProcessStartError as exc:
                await self._terminate()
                if first or not self._may_restart(exc.reason):
                    self._fail(exc.reason)
                    return
                await self._backoff()
                continue
            first = False
            code = await proc.wait()
            await self._drain_output()
            reason = f"exited with {describe_exit(code)} while serving"
            logger.warning(
                "%s %s; last output: %s", self.label, reason, " | ".join(self.last_logs(5))
            )
            self._proc = self._reader = None
            self._serving = False
            if not self._may_restart(reason):
                self._fail(reason)
                return
            self._set_state(ProcessState.STARTING, reason)
            await self._backoff()

    async def _start_once(self) -> asyncio.subprocess.Process:
        self._set_state(ProcessState.STARTING)
        try:
            launch = await self._recipe.launch()
            logger.info("%s: starting %s", self.label, " ".join(launch.argv))
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches all of it
            )
        except (LaunchError, OSError) as exc:
            raise ProcessStartError(
                self.label, f"could not start: {exc}", self.last_logs()
            ) from exc
        self._proc = proc
        self._reader = asyncio.create_task(self._read_output(proc), name=f"{self.name}-log")
        await self._wait_healthy(proc, launch.address)
        self.address = launch.address
        self._serving = True
        self._set_state(ProcessState.READY)
        logger.info("%s ready at %s (pid %d)", self.label, launch.address, proc.pid)
        return proc

    async def _wait_healthy(self, proc: asyncio.subprocess.Process, address: str) -> None:
        deadline = time.monotonic() + self.policy.start_timeout_s
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                await self._drain_output()
                raise ProcessStartError(
                    self.label,
                    f"exited with {describe_exit(proc.returncode)} during start",
                    self.last_logs(),
                )
            if await self._recipe.healthy(address):
                return
            # Wake early when the process exits rather than sleeping the full interval.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEALTH_POLL_S):
                    await proc.wait()
        raise ProcessStartError(
            self.label,
            f"did not answer {self._recipe.health_check} within {self.policy.start_timeout_s:g} s",
            self.last_logs(),
        )

    def _may_restart(self, reason: str) -> bool:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.policy.restart_window_s:
            self._crashes.popleft()
        self.last_error = reason
        return len(self._crashes) <= self.policy.max_restarts

    async def _backoff(self) -> None:
        p = self.policy
        delay = min(p.restart_backoff_max_s, p.restart_backoff_s * 2 ** (len(self._crashes) - 1))
        logger.info("%s: restarting in %.1f s", self.label, delay)
        await asyncio.sleep(delay)
        self.restarts += 1

    def _fail(self, reason: str) -> None:
        logger.error(
            "%s failed: %s; last output:\n%s",
            self.label,
            reason,
            "\n".join(self.last_logs(ERROR_LOG_LINES)),
        )
        self._set_state(ProcessState.FAILED, reason)

    def _set_state(self, state: ProcessState, error: str | None = None) -> None:
        if state not in NEXT_STATE[self._state]:
            raise ProcessStateError(self.label, self._state, state)
        self._state = state
        if error is not None:
            self.last_error = error
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._on_state is not None:
            self._on_state(self)

    # The process: output, termination.

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line longer than the stream's limit
                raw = await proc.stdout.read(64 * 1024)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            self._logs.append(line)
            logger.debug("[%s] %s", self.name, line)

    async def _drain_output(self) -> None:
        if self._reader is None:
            return
        try:
            async with asyncio.timeout(1.0):
                await asyncio.shield(self._reader)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            # The reader was cancelled: its output so far is all there is. But when stop()
            # cancels the supervisor here, go on being cancelled: swallowing it would let
            # the supervisor restart the process after stopping -> stopped.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        serving, self._serving = self._serving, False
        if proc is not None and proc.returncode is None:
            if not (serving and await self._exited_when_asked(proc)):
                await self._signal_until_gone(proc)
        if proc is not None:
            # Children left in the group (none expected) must not outlive the process.
            signal_group(proc.pid, signal.SIGKILL)
        reader, self._reader = self._reader, None
        if reader is not None:
            await self._drain_output_of(reader)

    async def _exited_when_asked(self, proc: asyncio.subprocess.Process) -> bool:
        """The recipe's polite stop (redis' SHUTDOWN writes its files), given the grace."""
        if self.address is None:
            return False
        try:
            async with asyncio.timeout(self.policy.stop_grace_s):
                if not await self._recipe.ask_to_stop(self.address):
                    return False
                await proc.wait()
        except TimeoutError:
            logger.warning("%s: did not exit when asked; SIGTERM", self.label)
            return False
        return True

    async def _signal_until_gone(self, proc: asyncio.subprocess.Process) -> None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(self.policy.stop_grace_s):
                await proc.wait()
        except TimeoutError:
            logger.warning(
                "%s ignored SIGTERM for %g s: SIGKILL", self.label, self.policy.stop_grace_s
            )
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    @staticmethod
    async def _drain_output_of(reader: asyncio.Task[None]) -> None:
        try:
            async with asyncio.timeout(1.0):
                await reader
        except TimeoutError:
            reader.cancel()


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


__all__ = [
    "NEXT_STATE",
    "Launch",
    "LaunchError",
    "ProcessStartError",
    "ProcessState",
    "ProcessStateError",
    "Recipe",
    "RestartPolicy",
    "StateListener",
    "SupervisedProcess",
    "describe_exit",
    "signal_group",
]
