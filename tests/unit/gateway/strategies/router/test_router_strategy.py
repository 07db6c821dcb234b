"""The router over in-memory fakes of its ports: what it asks the store, and when not."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from config import ModelSettings, PatternCacheSettings, RouterSettings
from engines import Dispatcher, UpstreamClient, UpstreamPool
from engines.client import ClientLimits
from gateway.strategies.base import Answer, Call, Controls, EventStream
from gateway.strategies.best_of_k.strategy import BestOfKTools
from gateway.strategies.best_of_k.verification import Code, GeneratedResult, TrustedResult
from gateway.strategies.model import ModelGroup
from gateway.strategies.router.bandit import Posterior, Route
from gateway.strategies.router.patterns import CacheEntry, Features, Lookup
from gateway.strategies.router.plan import read_call_off_loop
from gateway.strategies.router.strategy import RouterStrategy, RouterTools
from gateway.strategies.tokens import TokenCounter
from gateway.strategies.views import Usage
from gateway.telemetry.metrics import Metrics
from sandbox import TestCase

DOCTEST = 'def add(a, b):\n    """\n    >>> add(2, 3)\n    5\n    """\n'
GOOD = "def add(a, b):\n    return a + b\n"


@dataclass(frozen=True)
class Msg:
    role: str
    content: str


@dataclass
class Recorder:
    calls: list[str] = field(default_factory=list)


class FakeStats:
    def __init__(self, log: Recorder) -> None:
        self.log = log

    async def posteriors(self, model: str, bin_: int) -> dict[Route, Posterior]:
        self.log.calls.append("posteriors")
        return {}

    async def record(
        self, model: str, bin_: int, route: Route, *, passed: bool, tokens: int
    ) -> None:
        self.log.calls.append("record")


class FakeCache:
    def __init__(self, log: Recorder, entry: CacheEntry | None = None) -> None:
        self.log = log
        self.entry = entry

    async def lookup(
        self, model: str, scope: str, key: str, features: Features, *, exact: bool = True
    ) -> Lookup:
        self.log.calls.append(f"lookup {scope}" + ("" if exact else " (near only)"))
        if not exact:
            return Lookup(entry=None, similarity=0.5, near=("other",))
        return Lookup(entry=self.entry, similarity=1.0 if self.entry else 0.0, near=("other",))

    async def entries(self, model: str, scope: str, keys: Sequence[str]) -> list[CacheEntry]:
        self.log.calls.append("entries")
        return []

    async def store(
        self, model: str, scope: str, key: str, features: Features, entry: CacheEntry
    ) -> None:
        self.log.calls.append("store")

    async def reinforce(self, model: str, scope: str, key: str) -> None:
        self.log.calls.append("reinforce")

    async def evict(self, model: str, scope: str, key: str, reason: str) -> None:
        self.log.calls.append(f"evict {reason}")


class FakeVerifier:
    """Runs nothing: code passes when it is GOOD (the jail itself is tested elsewhere)."""

    available = True

    async def trusted(self, code: Code, tests: list[TestCase]) -> TrustedResult:
        return TrustedResult(len(tests) if code.source == GOOD else 0)

    async def generated(self, code: Code, tests: list[TestCase], n_asserts: int) -> GeneratedResult:
        return GeneratedResult(frozenset(), ())


class PassThroughProbe:
    def __init__(self, log: Recorder) -> None:
        self.log = log

    async def run(self, call: Call) -> Answer:
        self.log.calls.append("pass-through")
        return Answer(b"{}", Usage(), {"x-atlas-route": "fast"})

    async def stream(self, call: Call) -> EventStream:
        raise AssertionError("not streamed here")


def router(log: Recorder, entry: CacheEntry | None = None) -> RouterStrategy:
    tools = RouterTools(
        pass_through=PassThroughProbe(log),
        best_of_k=BestOfKTools(
            dispatcher=Dispatcher(UpstreamClient(ClientLimits())),
            verifier=FakeVerifier(),
            tokens=TokenCounter(),
            ranker_for=lambda _: None,
            keepalive_s=10.0,
        ),
        stats=FakeStats(log),
        cache=FakeCache(log, entry),
        metrics=Metrics().router,
        rng=random.Random(0),
    )
    return RouterStrategy(tools, RouterSettings(), k_cap=20)


def call(text: str, tenant: str = "u1") -> Call:
    group = ModelGroup(
        ModelSettings(name="coder", upstreams=("http://127.0.0.1:9",)),
        UpstreamPool("coder", []),
        UpstreamPool("coder", []),
        RouterSettings().best_of_k,
    )
    body = {"model": "coder", "messages": [{"role": "user", "content": text}]}
    return Call(
        endpoint="chat",
        model=group,
        body=msgspec.json.encode(body),
        request_id="r",
        requested_model="coder",
        prompt_text=text,
        messages=[Msg("user", text)],
        tenant=tenant,
    )


async def test_a_code_request_without_tests_never_touches_the_store() -> None:
    log = Recorder()
    await router(log).run(call("Write a Python function that reverses a string."))
    assert log.calls == ["pass-through"]


async def test_a_hit_is_checked_reinforced_and_served_without_generating() -> None:
    log = Recorder()
    completion: dict[str, Any] = {"choices": [{"message": {"content": f"```python\n{GOOD}```"}}]}
    entry = CacheEntry(completion=completion, code=GOOD, language="python")
    answer = await router(log, entry).run(call(DOCTEST, tenant="u7"))
    assert log.calls == ["lookup t:u7", "reinforce"]
    assert answer.headers["x-atlas-route"] == "cache" and answer.usage == Usage()
    assert answer.served.route == "cache" and answer.served.verified


async def test_a_poisoned_hit_is_evicted_and_routed() -> None:
    log = Recorder()
    entry = CacheEntry(completion={}, code="def add(a, b):\n    return 0\n", language="python")
    strategy = router(log, entry)
    plan = await strategy._plan(call(DOCTEST))
    assert plan is not None and plan.route in ("fast", "standard", "hard")
    assert log.calls == ["lookup t:u1", "evict poisoned", "posteriors"]


async def test_shared_tenants_read_one_scope() -> None:
    log = Recorder()
    settings = RouterSettings(cache=PatternCacheSettings(shared_tenants=("u1", "u2")))
    strategy = router(log)
    shared = RouterStrategy(strategy._tools, settings, k_cap=20)
    await shared._plan(call(DOCTEST, tenant="u2"))
    await shared._plan(call(DOCTEST, tenant="u3"))
    assert [c for c in log.calls if c.startswith("lookup")] == ["lookup shared", "lookup t:u3"]


async def test_hostile_prompts_are_read_in_bounded_time() -> None:
    started = time.perf_counter()
    for text in ("```python\n" * 100_000, "def f(" * 200_000, ">>> f(1)\n" * 100_000):
        reading = await read_call_off_loop(call(text))
        assert reading.key is None or len(reading.key) == 64
    assert time.perf_counter() - started < 10


async def test_hints_are_read_only_for_a_routed_search_that_asks_for_them() -> None:
    log = Recorder()
    hinting = RouterSettings(cache=PatternCacheSettings(hints=True))
    strategy = RouterStrategy(router(log)._tools, hinting, k_cap=20)
    plan = await strategy._plan(call(DOCTEST))
    assert plan is not None and plan.hints is not None and plan.hints.count == 0
    assert log.calls == ["lookup t:u1", "posteriors", "entries"]
    assert plan.headers()["x-atlas-hints"] == "0"

    log.calls.clear()
    off = call(DOCTEST)
    off = msgspec.structs.replace(off, controls=Controls(hints=False))
    plan = await strategy._plan(off)
    assert plan is not None and plan.hints is None and "x-atlas-hints" not in plan.headers()
    assert log.calls == ["lookup t:u1", "posteriors"]


async def test_a_hit_gets_no_hints_and_cache_false_never_reads_the_entry() -> None:
    log = Recorder()
    completion: dict[str, Any] = {"choices": [{"message": {"content": f"```python\n{GOOD}```"}}]}
    entry = CacheEntry(completion=completion, code=GOOD, language="python")
    hinting = RouterSettings(cache=PatternCacheSettings(hints=True))
    strategy = RouterStrategy(router(log, entry)._tools, hinting, k_cap=20)
    hit = await strategy._plan(call(DOCTEST))
    assert hit is not None and hit.route == "cache" and hit.hints is None
    assert log.calls == ["lookup t:u1", "reinforce"]

    log.calls.clear()
    fresh = msgspec.structs.replace(call(DOCTEST), controls=Controls(cache=False))
    plan = await strategy._plan(fresh)
    assert plan is not None and plan.route != "cache"
    assert log.calls == ["lookup t:u1 (near only)", "posteriors", "entries"]
