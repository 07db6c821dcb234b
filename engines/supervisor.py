"""One supervised llama-server process: the generic state machine of
`engines/process.py` over the llama-server recipe (probed flags, a free port, GET
/health answering 200).

The names of this module (`EngineState`, `EngineStartError`, `_NEXT`, ...) are the
generic ones under the names the engines have always used.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from config.engines import EngineSettings
from engines.llama_flags import FlagProber, LlamaFlagError, build_argv
from engines.process import (
    NEXT_STATE,
    Launch,
    LaunchError,
    ProcessStartError,
    ProcessState,
    ProcessStateError,
    RestartPolicy,
    SupervisedProcess,
    restart_policy,
)
from engines.telemetry import SpecTelemetry

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 2.0

EngineState = ProcessState
EngineStateError = ProcessStateError
EngineStartError = ProcessStartError
_NEXT = NEXT_STATE

StateListener = Callable[["ManagedEngine"], None]


class LlamaServerRecipe:
    """argv from the settings and the flags this binary knows; healthy: /health is 200."""

    kind = "engine"
    health_check = "/health"

    def __init__(self, settings: EngineSettings, binary: str, prober: FlagProber) -> None:
        self._settings = settings
        self._binary = binary
        self._prober = prober

    async def launch(self) -> Launch:
        try:
            flags = await self._prober.probe(self._binary)
        except LlamaFlagError as exc:
            raise LaunchError(str(exc)) from exc
        port = self._settings.port or _free_port(self._settings.host)
        try:
            argv = build_argv(self._settings, flags, port=port, binary=self._binary)
        except LlamaFlagError as exc:
            raise LaunchError(str(exc)) from exc
        return Launch(argv, f"http://{_url_host(self._settings.host)}:{port}")

    async def healthy(self, address: str) -> bool:
        host, port = address.removeprefix("http://").rsplit(":", 1)
        return await _health_ok(host.strip("[]"), int(port))

    async def ask_to_stop(self, address: str) -> bool:
        return False  # llama-server has no stop request: SIGTERM is how it is asked


def engine_policy(settings: EngineSettings) -> RestartPolicy:
    return restart_policy(settings, settings.log_lines)


class ManagedEngine(SupervisedProcess):
    def __init__(
        self,
        settings: EngineSettings,
        *,
        binary: str,
        prober: FlagProber | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        super().__init__(
            settings.name,
            LlamaServerRecipe(settings, binary, prober or FlagProber()),
            engine_policy(settings),
            # Listeners get the engine itself, with its settings and telemetry.
            on_state=(lambda _: on_state(self)) if on_state is not None else None,
        )
        self.settings = settings
        self.binary = binary
        self.telemetry = SpecTelemetry(settings.name, has_draft=settings.draft_model is not None)

    @property
    def url(self) -> str | None:
        return self.address


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


__all__ = [
    "EngineStartError",
    "EngineState",
    "EngineStateError",
    "LlamaServerRecipe",
    "ManagedEngine",
    "StateListener",
    "engine_policy",
]
