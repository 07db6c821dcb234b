"""The process's one Redis store: `async with open_store(settings.redis, role=...)`.

One `redis.asyncio.Redis` client (bytes in, bytes out) for the whole process, and the
key prefix every accounts key starts with. Where it connects:

- `[redis] url` set: to that server; nothing is started ("external").
- No url: the embedded redis-server of the data dir (`<data_dir>/redis`: its AOF and
  its unix socket `redis.sock`). The process that runs it (its "owner") holds an
  exclusive flock on `owner.lock` for exactly as long as it supervises the server, and
  writes its pid and role into that file.

The rule for sharing a data dir between a gateway and CLI commands (role "command": the
accounts CLI, which must work whether or not a gateway runs):

1. An opener that gets the lock owns the store: it starts and supervises the server
   ("embedded"), and at exit sends SHUTDOWN (the AOF is fsynced) before the supervisor
   stops it, then releases the lock. A server that still answers on the socket when the
   lock is free was left behind by an owner killed with SIGKILL; the new owner shuts it
   down (its data is kept) and starts its own, so a server never runs unsupervised for
   longer than it takes the next opener to come.
2. An opener that cannot get the lock connects to the server ("guest") only when the
   owner is a gateway and the server answers PING: a gateway's server lives as long as
   the gateway, so a command can use it and a second gateway can too (its store then
   goes down when the owning gateway stops: give each long-lived gateway its own data
   dir, or one shared redis-server through `url`).
3. Owned by a command (which stops its server when it finishes, in seconds), or not yet
   answering: wait, polling the lock, up to `lock_timeout_s`, then take it (rule 1) or
   connect (rule 2). Guests therefore never sit on a server about to stop; past the
   bound, `StoreBusyError` names the holder.

A guest's connection fails when its owner stops; the client retries a few times with a
back-off, which also carries callers over a restart of a crashed embedded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from config.redis import RedisSettings, masked_url
from engines import (
    EmbeddedRedis,
    ProcessStartError,
    RedisBinaryNotFoundError,
    ping_redis,
    shutdown_redis,
)

logger = logging.getLogger(__name__)

StoreRole = Literal["gateway", "command"]
StoreMode = Literal["external", "embedded", "guest"]

LOCK_NAME = "owner.lock"
LOCK_POLL_S = 0.05
STATUS_TIMEOUT_S = 1.0
# Retried over about 2.5 s: long enough for the embedded server's first restart.
CLIENT_RETRIES = 5
CLIENT_BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)


class StoreUnavailableError(Exception):
    """The store cannot be reached at start: the message names where it was looked for."""


class StoreBusyError(StoreUnavailableError):
    """The data dir's lock stayed with another process (or its server stayed silent)."""


class LockHolder(msgspec.Struct, frozen=True):
    pid: int
    role: str


@dataclass(frozen=True, slots=True)
class Store:
    redis: aioredis.Redis
    prefix: str
    mode: StoreMode
    address: str  # the URL without its password, or the socket's path
    server: EmbeddedRedis | None = None  # the redis-server this process supervises

    async def status(self) -> dict[str, Any]:
        """For /ready: how this process reaches the store and whether it answers now."""
        entry: dict[str, Any] = {
            "mode": self.mode,
            "address": self.address,
            "up": await self._answers(),
        }
        if self.server is not None:
            entry.update(
                state=str(self.server.state),
                pid=self.server.pid,
                restarts=self.server.restarts,
                last_error=self.server.last_error,
            )
        return entry

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(STATUS_TIMEOUT_S):
                return bool(await self.redis.ping())
        except (RedisError, OSError, TimeoutError):
            return False


@asynccontextmanager
async def open_store(settings: RedisSettings, *, role: StoreRole) -> AsyncIterator[Store]:
    """The store for this process, open until the block ends (see the module's rules)."""
    async with AsyncExitStack() as stack:
        if settings.url is not None:
            client = _client(settings, url=settings.url)
            stack.push_async_callback(client.aclose)
            store = Store(client, settings.prefix, "external", masked_url(settings.url))
        else:
            store = await _embedded(stack, settings, role)
        await _check_reachable(store)
        yield store


async def _embedded(stack: AsyncExitStack, settings: RedisSettings, role: StoreRole) -> Store:
    directory = settings.store_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    lock = _OwnerLock(directory / LOCK_NAME)
    deadline = time.monotonic() + settings.lock_timeout_s
    while not lock.try_acquire(LockHolder(os.getpid(), role)):
        holder = lock.holder()
        if holder is not None and holder.role == "gateway" and await ping_redis(sock):
            if role == "gateway":
                logger.warning(
                    "redis store: %s is run by gateway pid %d; this gateway's store goes "
                    "down when that one stops (give it its own data_dir, or set redis.url)",
                    directory,
                    holder.pid,
                )
            client = _client(settings, socket=sock)
            stack.push_async_callback(client.aclose)
            return Store(client, settings.prefix, "guest", str(sock))
        if time.monotonic() >= deadline:
            raise StoreBusyError(_busy(directory, holder, settings.lock_timeout_s))
        await asyncio.sleep(LOCK_POLL_S)
    stack.callback(lock.release)
    await _stop_leftover(sock, settings.stop_grace_s)
    try:
        server = EmbeddedRedis(settings, directory)
        stack.push_async_callback(server.stop)  # SHUTDOWN, then SIGTERM only if need be
        await server.ensure_ready()
    except (RedisBinaryNotFoundError, ProcessStartError) as exc:
        raise StoreUnavailableError(f"the embedded Redis store did not start: {exc}") from exc
    client = _client(settings, socket=sock)
    stack.push_async_callback(client.aclose)  # closed before the server stops
    return Store(client, settings.prefix, "embedded", str(sock), server)


async def _stop_leftover(sock: Path, grace_s: float) -> None:
    """A server no lock holder supervises (its owner was SIGKILLed): shut it down."""
    if not await ping_redis(sock):
        return
    logger.warning("redis store: a server left running at %s: SHUTDOWN, then ours", sock)
    await shutdown_redis(sock)
    deadline = time.monotonic() + grace_s
    while await ping_redis(sock):
        if time.monotonic() >= deadline:
            raise StoreBusyError(f"the redis-server left at {sock} does not stop")
        await asyncio.sleep(LOCK_POLL_S)


def _busy(directory: Path, holder: LockHolder | None, waited_s: float) -> str:
    who = f"{holder.role} pid {holder.pid}" if holder else "another process"
    return (
        f"the Redis store in {directory} is held by {who}, whose server did not become "
        f"usable within {waited_s:g} s (redis.lock_timeout_s)"
    )


def _client(
    settings: RedisSettings, *, url: str | None = None, socket: Path | None = None
) -> aioredis.Redis:
    options: dict[str, Any] = {
        "decode_responses": False,  # the Lens stores bytes
        "socket_timeout": settings.timeout_s,
        "socket_connect_timeout": settings.timeout_s,
        "retry": Retry(CLIENT_BACKOFF, CLIENT_RETRIES),
        "retry_on_error": [RedisConnectionError],
    }
    if url is not None:
        client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
        return client
    return aioredis.Redis(unix_socket_path=str(socket), **options)


async def _check_reachable(store: Store) -> None:
    try:
        await store.redis.ping()
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError(
            f"could not connect to the Redis store at {store.address}: {exc}"
        ) from exc


class _OwnerLock:
    """flock on the data dir's lock file: held while this process owns the server."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self, holder: LockHolder) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, msgspec.json.encode(holder), 0)
        self._fd = fd
        return True

    def holder(self) -> LockHolder | None:
        """Who holds it, from the file; None while the new holder is still writing."""
        try:
            return msgspec.json.decode(self._path.read_bytes(), type=LockHolder)
        except (OSError, msgspec.DecodeError):
            return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the flock


__all__ = [
    "LOCK_NAME",
    "LockHolder",
    "Store",
    "StoreBusyError",
    "StoreMode",
    "StoreRole",
    "StoreUnavailableError",
    "open_store",
]
