"""ManagedEngine against the scripted fake llama-server: real processes, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.engines import EngineSettings
from engines.llama_flags import FlagProber
from engines.managed import ManagedEngines
from engines.pool import Upstream, UpstreamPool
from engines.supervisor import EngineStartError, EngineState, ManagedEngine
from tests.fakes.fake_llama_server import write_wrapper

pytestmark = pytest.mark.timeout(20)


MakeEngine = Callable[..., ManagedEngine]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MakeEngine]:
    """Build engines on the fake (env keys without FAKE_LLAMA_); all stopped at teardown."""
    made: list[ManagedEngine] = []

    def make(fake_env: dict[str, Any] | None = None, **settings: Any) -> ManagedEngine:
        binary = write_wrapper(tmp_path, **(fake_env or {}))
        values: dict[str, Any] = {
            "name": "gen",
            "model": "model.gguf",
            "start_timeout_s": 10.0,
            "stop_grace_s": 2.0,
            "restart_backoff_s": 0.05,
            **settings,
        }
        made.append(ManagedEngine(EngineSettings(**values), binary=binary, prober=FlagProber()))
        return made[-1]

    yield make
    for eng in made:
        await eng.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def chat(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", json={"messages": []}) as reply:
            body: dict[str, Any] = await reply.json()
            return body


async def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_slow_start_waits_for_health_then_stops(engine: MakeEngine) -> None:
    eng = engine({"LOAD_S": 0.6})
    started = time.monotonic()
    url = await eng.ensure_ready()
    assert time.monotonic() - started >= 0.5
    assert eng.state is EngineState.READY
    assert (await chat(url))["choices"][0]["message"]["content"] == "ok"
    assert await eng.ensure_ready() == url  # already ready: no second process
    pid = eng.pid
    assert pid is not None
    await eng.stop()
    assert eng.state is EngineState.STOPPED and not alive(pid)
    assert any("server is listening" in line for line in eng.last_logs())


async def test_crash_during_start_fails_with_its_output(engine: MakeEngine) -> None:
    eng = engine({"EXIT_AT_START": 3})
    with pytest.raises(EngineStartError, match="exit code 3 during start") as info:
        await eng.ensure_ready()
    assert "failed to load model" in str(info.value)
    assert eng.state is EngineState.FAILED
    with pytest.raises(EngineStartError, match="failed"):  # no silent retry loop
        await eng.ensure_ready()
    await eng.stop()
    assert eng.state is EngineState.STOPPED


async def test_start_deadline_kills_the_process(engine: MakeEngine) -> None:
    eng = engine({"LOAD_S": 30}, start_timeout_s=0.5)
    with pytest.raises(EngineStartError, match=r"did not answer /health within 0.5 s"):
        await eng.ensure_ready()
    assert eng.state is EngineState.FAILED and eng.pid is None


async def test_crash_while_serving_restarts_and_repoints_the_pool(tmp_path: Path) -> None:
    binary = write_wrapper(tmp_path, CRASH_AFTER=1)
    settings = EngineSettings(name="gen", binary=binary, model="m", restart_backoff_s=0.05)
    engines = ManagedEngines([settings], prober=FlagProber())
    upstream = engines.placeholder("gen")
    pool = UpstreamPool("coder", [upstream])
    engines.bind("gen", pool, upstream)
    assert pool.usable() == []  # down until the engine is ready
    await engines.start()
    eng = engines.engines["gen"]
    first_url, first_pid = upstream.url, eng.pid
    assert upstream.healthy is True and first_url == eng.url
    await chat(first_url)  # the fake aborts after answering
    await wait_for(lambda: eng.restarts == 1 and eng.state is EngineState.READY)
    assert eng.pid != first_pid and upstream.healthy is True and upstream.url == eng.url
    assert any("GGML_ASSERT" in line for line in eng.last_logs())
    assert engines.status()["gen"]["restarts"] == 1
    await engines.aclose()
    assert upstream.healthy is False and eng.state is EngineState.STOPPED


async def test_repeated_crashes_mark_the_engine_failed(engine: MakeEngine) -> None:
    eng = engine({"CRASH_AFTER": 1}, max_restarts=1)
    await chat(await eng.ensure_ready())
    await wait_for(lambda: eng.restarts == 1 and eng.state is EngineState.READY)
    assert eng.url is not None
    await chat(eng.url)
    await wait_for(lambda: eng.state is EngineState.FAILED)
    assert eng.last_error is not None and "SIGABRT while serving" in eng.last_error
    await eng.stop()


async def test_sigterm_ignored_gets_sigkill_after_grace(engine: MakeEngine) -> None:
    eng = engine({"IGNORE_TERM": 1}, stop_grace_s=0.4)
    await eng.ensure_ready()
    pid = eng.pid
    assert pid is not None
    started = time.monotonic()
    await eng.stop()
    assert time.monotonic() - started >= 0.35
    assert not alive(pid) and eng.state is EngineState.STOPPED


async def test_argv_follows_the_probed_flag_names(engine: MakeEngine, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv.jsonl"
    eng = engine(
        {"HELP": "old", "ARGV_FILE": argv_file},
        draft_model="draft.gguf",
        spec_draft_max=6,
    )
    await eng.ensure_ready()
    await eng.stop()
    argv = json.loads(argv_file.read_text().splitlines()[0])
    assert argv[argv.index("--model-draft") + 1] == "draft.gguf"
    assert argv[argv.index("--draft-max") + 1] == "6"


async def test_missing_flag_fails_the_start_clearly(engine: MakeEngine) -> None:
    eng = engine({"HELP": "nospec"}, draft_model="draft.gguf")
    with pytest.raises(EngineStartError, match="does not support speculative decoding"):
        await eng.ensure_ready()
    assert eng.state is EngineState.FAILED and eng.pid is None


async def test_draft_telemetry_from_replies(tmp_path: Path) -> None:
    binary = write_wrapper(tmp_path, ACCEPT=3)
    settings = EngineSettings(name="gen", binary=binary, model="m", draft_model="d.gguf")
    engines = ManagedEngines([settings], prober=FlagProber())
    await engines.start()
    url = engines.engines["gen"].url
    assert url is not None
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/v1/chat/completions", json={}) as reply:
            engines.record_reply(url, await reply.read())
    assert engines.status()["gen"]["speculative"]["acceptance_rate"] == 0.75
    await engines.aclose()


def test_build_pool_adds_a_down_upstream_per_engine(tmp_path: Path) -> None:
    binary = write_wrapper(tmp_path)
    engines = ManagedEngines(
        [EngineSettings(name="gen", binary=binary, model="m", parallel=3)], prober=FlagProber()
    )
    static = Upstream("http://127.0.0.1:9")
    pool = engines.build_pool("coder", [static], ["gen"], max_queue=5)
    assert pool.upstreams[0] is static and len(pool.upstreams) == 2
    managed = pool.upstreams[1]
    assert managed.healthy is False and managed.max_in_flight == 3
    assert "engine 'gen' is stopped" in (managed.last_error or "")
