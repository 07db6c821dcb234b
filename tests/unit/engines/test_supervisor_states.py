"""The supervisor's table of state changes: it refuses the rest, and is what real runs do."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.engines import EngineSettings
from engines.llama_flags import FlagProber
from engines.supervisor import _NEXT, EngineStartError, EngineState, EngineStateError, ManagedEngine
from tests.fakes.fake_llama_server import write_wrapper

pytestmark = pytest.mark.timeout(30)

Change = tuple[EngineState, EngineState]
ALL_CHANGES = {(old, new) for old, targets in _NEXT.items() for new in targets}


def bare_engine() -> ManagedEngine:
    return ManagedEngine(EngineSettings(name="gen", model="m.gguf"), binary="llama-server")


@pytest.mark.parametrize(("old", "new"), list(itertools.product(EngineState, EngineState)))
def test_set_state_follows_the_table(old: EngineState, new: EngineState) -> None:
    eng = bare_engine()
    eng._state = old
    if new in _NEXT[old]:
        eng._set_state(new)
        assert eng.state is new
        return
    with pytest.raises(EngineStateError, match=f"engine 'gen': {old} -> {new} is not an allowed"):
        eng._set_state(new)
    assert eng.state is old


def test_every_state_has_a_row() -> None:
    assert set(_NEXT) == set(EngineState)


class Recorder:
    """Engines whose every state change is recorded as an (old, new) pair."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.changes: set[Change] = set()
        self.engines: list[ManagedEngine] = []

    def engine(self, fake_env: dict[str, Any] | None = None, **settings: Any) -> ManagedEngine:
        binary = write_wrapper(self.tmp_path, **(fake_env or {}))
        values: dict[str, Any] = {
            "name": "gen",
            "model": "model.gguf",
            "start_timeout_s": 10.0,
            "stop_grace_s": 2.0,
            "restart_backoff_s": 0.05,
            **settings,
        }
        last = [EngineState.STOPPED]

        def record(eng: ManagedEngine) -> None:
            self.changes.add((last[0], eng.state))
            last[0] = eng.state

        eng = ManagedEngine(
            EngineSettings(**values), binary=binary, prober=FlagProber(), on_state=record
        )
        self.engines.append(eng)
        return eng


async def chat(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", json={"messages": []}) as reply:
            await reply.read()


async def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_the_table_is_exactly_what_real_runs_do(tmp_path: Path) -> None:
    runs = Recorder(tmp_path)
    try:
        # ready, then stopped
        eng = runs.engine()
        await eng.ensure_ready()
        await eng.stop()
        # failed on its first start, then stopped
        eng = runs.engine({"EXIT_AT_START": 3})
        with pytest.raises(EngineStartError):
            await eng.ensure_ready()
        await eng.stop()
        # stopped while it loads
        eng = runs.engine({"LOAD_S": 30})
        waiter = asyncio.create_task(eng.ensure_ready())
        await wait_for(lambda: eng.pid is not None)
        await eng.stop()
        with pytest.raises(EngineStartError, match="is stopped"):
            await waiter
        # a crash while serving restarts it, the next one is one too many
        eng = runs.engine({"CRASH_AFTER": 1}, max_restarts=1)
        await chat(await eng.ensure_ready())
        await wait_for(lambda: eng.restarts == 1 and eng.state is EngineState.READY)
        assert eng.url is not None
        await chat(eng.url)
        await wait_for(lambda: eng.state is EngineState.FAILED)
        await eng.stop()
    finally:
        for made in runs.engines:
            await made.stop()
    assert runs.changes == ALL_CHANGES
    assert all(made.state is EngineState.STOPPED for made in runs.engines)


async def test_drain_output_passes_on_the_supervisors_cancellation() -> None:
    eng = bare_engine()
    reader = asyncio.create_task(asyncio.sleep(30))
    eng._reader = reader
    draining = asyncio.create_task(eng._drain_output())
    await asyncio.sleep(0)
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining
    assert not reader.done()  # shielded: the output reader is not the one cancelled
    reader.cancel()


async def test_drain_output_ends_quietly_when_the_reader_was_cancelled() -> None:
    eng = bare_engine()
    reader = asyncio.create_task(asyncio.sleep(30))
    eng._reader = reader
    draining = asyncio.create_task(eng._drain_output())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.wait_for(draining, 1.0)
