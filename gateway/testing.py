"""Serving an ASGI app from a background thread on a free loopback port: for tools that
embed the gateway (the selection benchmark) and tests that need a real socket."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from config.settings import DEFAULT_WRITE_TIMEOUT_S
from gateway.serving import http_protocol

START_TIMEOUT_S = 10.0


@dataclass
class BackgroundServer:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)


def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    start_timeout_s: float = START_TIMEOUT_S,
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    **config: Any,
) -> BackgroundServer:
    """Start uvicorn on port 0 in a daemon thread and wait until it listens; it drops a
    client that reads nothing for `write_timeout_s`, as `atlas serve` does."""
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "http": http_protocol(write_timeout_s),
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the background server did not start")
        time.sleep(0.01)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    return BackgroundServer(server, thread, host, port)
