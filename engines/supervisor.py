"""One supervised llama-server process: a small state machine with one owner.

    stopped --ensure_ready()--> starting --/health 200--> ready
    starting --exits or deadline--> failed (first start) | starting again (a restart)
    ready --process exits--> starting (after a back-off) | failed (too many crashes)
    starting | ready --stop()--> stopping --> stopped;  failed --stop()--> stopped

`_NEXT` holds exactly these changes and `_set_state` refuses any other.

The supervisor task is the only writer of the state and of the process handle while it
runs; `stop()` cancels it first and then ends the process group (SIGTERM, a grace
period, SIGKILL). Output goes to a bounded ring buffer and to the debug log.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable

from config.engines import EngineSettings
from engines.llama_flags import FlagProber, LlamaFlagError, build_argv
from engines.telemetry import SpecTelemetry

logger = logging.getLogger(__name__)

HEALTH_POLL_S = 0.1
HEALTH_TIMEOUT_S = 2.0
ERROR_LOG_LINES = 20


class EngineState(enum.StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    FAILED = "failed"


# Every state change the supervisor makes, and no other. starting -> starting is each
# new attempt (`_start_once`) after ensure_ready() or a crash already said "starting".
_NEXT: dict[EngineState, frozenset[EngineState]] = {
    EngineState.STOPPED: frozenset({EngineState.STARTING}),
    EngineState.STARTING: frozenset(
        {EngineState.STARTING, EngineState.READY, EngineState.FAILED, EngineState.STOPPING}
    ),
    EngineState.READY: frozenset({EngineState.STARTING, EngineState.FAILED, EngineState.STOPPING}),
    EngineState.STOPPING: frozenset({EngineState.STOPPED}),
    EngineState.FAILED: frozenset({EngineState.STOPPED}),
}


class EngineStateError(RuntimeError):
    """A state change outside `_NEXT`: a bug in the supervisor, never an engine failure."""

    def __init__(self, engine: str, old: EngineState, new: EngineState) -> None:
        super().__init__(f"engine {engine!r}: {old} -> {new} is not an allowed state change")
        self.engine = engine
        self.old = old
        self.new = new


class EngineStartError(Exception):
    """An engine did not become ready; the message carries its last output lines."""

    def __init__(self, engine: str, reason: str, logs: list[str]) -> None:
        tail = "\n".join(logs[-ERROR_LOG_LINES:])
        output = f"; last output:\n{tail}" if tail else ""
        super().__init__(f"engine {engine!r} {reason}{output}")
        self.engine = engine
        self.reason = reason
        self.logs = logs


StateListener = Callable[["ManagedEngine"], None]


class ManagedEngine:
    def __init__(
        self,
        settings: EngineSettings,
        *,
        binary: str,
        prober: FlagProber | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        self.settings = settings
        self.binary = binary
        self.telemetry = SpecTelemetry(settings.name, has_draft=settings.draft_model is not None)
        self._prober = prober or FlagProber()
        self._on_state = on_state
        self._state = EngineState.STOPPED
        self._changed = asyncio.Event()  # replaced by a fresh one at every change
        self._logs: deque[str] = deque(maxlen=settings.log_lines)
        self._crashes: deque[float] = deque()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.url: str | None = None
        self.last_error: str | None = None
        self.restarts = 0

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def last_logs(self, n: int | None = None) -> list[str]:
        lines = list(self._logs)
        return lines if n is None else lines[-n:]

    async def ensure_ready(self) -> str:
        """Start the engine unless it runs, wait until it is ready, and return its URL."""
        if self._task is None or self._task.done():
            if self._state is EngineState.FAILED:
                raise EngineStartError(self.name, f"failed: {self.last_error}", self.last_logs())
            self._crashes.clear()
            self._set_state(EngineState.STARTING)
            self._task = asyncio.create_task(self._supervise(), name=f"engine-{self.name}")
        while self._state not in (EngineState.READY, EngineState.FAILED, EngineState.STOPPED):
            await self._changed.wait()
        if self._state is EngineState.READY and self.url is not None:
            return self.url
        raise EngineStartError(self.name, f"is {self._state}: {self.last_error}", self.last_logs())

    async def stop(self) -> None:
        """Stop supervising and end the process group; idempotent."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            self._set_state(EngineState.STOPPING)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._terminate()
        if self._state is not EngineState.STOPPED:
            self._set_state(EngineState.STOPPED)

    # The supervisor task: the only writer of state while it runs.

    async def _supervise(self) -> None:
        try:
            await self._supervise_loop()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an OS error: fail visibly, never hang waiters
            logger.exception("engine %s: supervisor crashed", self.name)
            self._fail(f"supervisor error: {type(exc).__name__}: {exc}")

    async def _supervise_loop(self) -> None:
        first = True
        while True:
            try:
                proc = await self._start_once()
            except EngineStartError as exc:
                await self._terminate()
                if first or not self._may_restart(exc.reason):
                    self._fail(exc.reason)
                    return
                await self._backoff()
                continue
            first = False
            code = await proc.wait()
            await self._drain_output()
            reason = f"exited with {_describe_exit(code)} while serving"
            logger.warning(
                "engine %s %s; last output: %s", self.name, reason, " | ".join(self.last_logs(5))
            )
            self._proc = self._reader = None
            if not self._may_restart(reason):
                self._fail(reason)
                return
            self._set_state(EngineState.STARTING, reason)
            await self._backoff()

    async def _start_once(self) -> asyncio.subprocess.Process:
        self._set_state(EngineState.STARTING)
        try:
            flags = await self._prober.probe(self.binary)
            port = self.settings.port or _free_port(self.settings.host)
            argv = build_argv(self.settings, flags, port=port, binary=self.binary)
            logger.info("engine %s: starting %s", self.name, " ".join(argv))
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches all of it
            )
        except (LlamaFlagError, OSError) as exc:
            raise EngineStartError(self.name, f"could not start: {exc}", self.last_logs()) from exc
        self._proc = proc
        self._reader = asyncio.create_task(self._read_output(proc), name=f"engine-{self.name}-log")
        url = f"http://{_url_host(self.settings.host)}:{port}"
        await self._wait_healthy(proc, url)
        self.url = url
        self._set_state(EngineState.READY)
        logger.info("engine %s ready at %s (pid %d)", self.name, url, proc.pid)
        return proc

    async def _wait_healthy(self, proc: asyncio.subprocess.Process, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                await self._drain_output()
                raise EngineStartError(
                    self.name,
                    f"exited with {_describe_exit(proc.returncode)} during start",
                    self.last_logs(),
                )
            if await _health_ok(host.strip("[]"), int(port)):
                return
            # Wake early when the process exits rather than sleeping the full interval.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEALTH_POLL_S):
                    await proc.wait()
        raise EngineStartError(
            self.name,
            f"did not answer /health within {self.settings.start_timeout_s:g} s",
            self.last_logs(),
        )

    def _may_restart(self, reason: str) -> bool:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.settings.restart_window_s:
            self._crashes.popleft()
        self.last_error = reason
        return len(self._crashes) <= self.settings.max_restarts

    async def _backoff(self) -> None:
        s = self.settings
        delay = min(s.restart_backoff_max_s, s.restart_backoff_s * 2 ** (len(self._crashes) - 1))
        logger.info("engine %s: restarting in %.1f s", self.name, delay)
        await asyncio.sleep(delay)
        self.restarts += 1

    def _fail(self, reason: str) -> None:
        logger.error(
            "engine %s failed: %s; last output:\n%s",
            self.name,
            reason,
            "\n".join(self.last_logs(ERROR_LOG_LINES)),
        )
        self._set_state(EngineState.FAILED, reason)

    def _set_state(self, state: EngineState, error: str | None = None) -> None:
        if state not in _NEXT[self._state]:
            raise EngineStateError(self.name, self._state, state)
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
            # the supervisor restart the engine after stopping -> stopped.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(self.settings.stop_grace_s):
                    await proc.wait()
            except TimeoutError:
                logger.warning(
                    "engine %s ignored SIGTERM for %g s: SIGKILL",
                    self.name,
                    self.settings.stop_grace_s,
                )
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        if proc is not None:
            # Children left in the group (none expected) must not outlive the engine.
            _signal_group(proc.pid, signal.SIGKILL)
        reader, self._reader = self._reader, None
        if reader is not None:
            await self._drain_output_of(reader)

    @staticmethod
    async def _drain_output_of(reader: asyncio.Task[None]) -> None:
        try:
            async with asyncio.timeout(1.0):
                await reader
        except TimeoutError:
            reader.cancel()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


async def _health_ok(host: str, port: int) -> bool:
    """GET /health over a raw connection: True on 200 (llama-server answers 503 while loading)."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET /health HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
            status_line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1] == b"200"


__all__ = ["EngineStartError", "EngineState", "EngineStateError", "ManagedEngine", "StateListener"]
