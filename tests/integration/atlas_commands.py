"""Running `atlas` commands as real processes on one data dir's embedded store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ATLAS = [sys.executable, "-m", "gateway.cli"]
ROOT = Path(__file__).resolve().parents[2]


def atlas_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env.update(
        ATLAS_DATA_DIR=str(data_dir),
        ATLAS_CACHE_DIR=str(data_dir / "no-installed-stack"),
        ATLAS_SANDBOX_BACKEND="disabled",
        **extra,
    )
    return env


def atlas(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """One command; its stdin is `stdin`, else nothing (never the test's terminal)."""
    return subprocess.run(
        [*ATLAS, *args],
        cwd=ROOT,
        env=atlas_env(data_dir),
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def redis_servers(data_dir: Path) -> list[int]:
    """Live redis-server processes serving this data dir's socket (redis-server retitles
    itself `redis-server unixsocket:<path>`; the test beside a gateway sees one)."""
    sock = str(data_dir / "redis" / "redis.sock").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            is_redis = (entry / "comm").read_bytes().strip() == b"redis-server"
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if is_redis and sock in argv:
            found.append(int(entry.name))
    return found
