"""The real stack: llama-server and Qwen2.5-Coder-0.5B from `atlas engines install`,
supervised by ManagedEngines, behind a real gateway. Skipped when not installed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pytest
import uvicorn

from config import Settings
from config.engines import EngineSettings
from engines.install import InstalledStack, installed_stack
from engines.managed import ManagedEngines
from gateway.app import create_app
from gateway.testing import serve_in_thread

T = TypeVar("T")
MODEL = "coder"


class EngineLoop:
    """An event loop in a thread that owns the engines (the gateway runs in its own)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@dataclass
class Stack:
    installed: InstalledStack
    engines: ManagedEngines
    loop: EngineLoop
    gateway_url: str

    @property
    def base_url(self) -> str:
        return self.gateway_url + "/v1"

    def url(self, engine: str) -> str:
        url = self.engines.engines[engine].url
        assert url is not None
        return url


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    installed = installed_stack()
    if installed is None:
        pytest.skip("no installed stack: run `atlas engines install` (see README)")
    # The 0.5B: the draft model of the `spec` profile, the only model of `default`.
    model = str(installed.draft_model or installed.model)
    binary = str(installed.binary)
    engines = ManagedEngines(
        [
            # The 0.5B drafting for itself: acceptance must be near 100 %.
            EngineSettings(
                name="gen", binary=binary, model=model, draft_model=model, ctx_size=4096, parallel=2
            ),
            EngineSettings(
                name="embed",
                role="embedding",
                binary=binary,
                model=model,
                pooling="mean",
                ctx_size=2048,
                parallel=1,
            ),
        ]
    )
    loop = EngineLoop()
    try:
        loop.run(engines.start())
        assert engines.all_ready(), engines.status()
        gen, embed = (engines.engines[n].url for n in ("gen", "embed"))
        settings = msgspec.convert(
            {
                "sandbox": {"backend": "disabled"},
                "models": [{"name": MODEL, "upstreams": [gen], "embedding_upstreams": [embed]}],
            },
            Settings,
            strict=True,
        )
        server, thread, url = _serve(settings)
        try:
            yield Stack(installed, engines, loop, url)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
    finally:
        loop.run(engines.aclose())
        loop.close()


def _serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    background = serve_in_thread(create_app(settings), start_timeout_s=30)
    return background.server, background.thread, background.url
