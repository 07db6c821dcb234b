"""The router strategy: a code request with trusted tests is served from the pattern
cache when a verified answer re-passes its tests, else sent to the route (fast,
standard, hard: best-of-k with that k) a Thompson draw picks for its difficulty bin;
what the route produced teaches the bandit and, when verified, fills the cache. With
strategy hints on, the route's candidates also see verified answers to similar problems
of the scope in their system message (`hints.py`); nothing else of the request changes.

Requests without trusted tests pass through without a Redis round trip.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from config import RouterSettings
from engines import EngineError
from gateway.strategies.base import (
    DONE,
    Answer,
    Call,
    Comment,
    Event,
    EventStream,
    Failure,
    Report,
    Served,
    Strategy,
)
from gateway.strategies.best_of_k.strategy import (
    BestOfKTools,
    cancel_and_wait,
    progress_until_done,
)
from gateway.strategies.best_of_k.verification import (
    OFF_LOOP_CHARS,
    Code,
    extract_code_off_loop,
)
from gateway.strategies.best_of_k.winner import completion_chunks
from gateway.strategies.model import ModelGroup
from gateway.strategies.router.bandit import ARMS, Route, RouteStats, choose_route
from gateway.strategies.router.difficulty import (
    NEUTRAL,
    Signals,
    difficulty,
    difficulty_bin,
    verifiability,
)
from gateway.strategies.router.hints import NO_HINTS, Hints, format_hints, hinted_call
from gateway.strategies.router.patterns import (
    PROBLEM_CHARS,
    SKETCH_CHARS,
    CacheEntry,
    Embedder,
    Features,
    Lookup,
    PatternCache,
    message_text,
    scope_of,
)
from gateway.strategies.router.plan import Reading, read_call_off_loop
from gateway.strategies.router.prior import FailurePredictor, embed, predicted_failure
from gateway.strategies.router.search import routed_search
from gateway.strategies.views import Usage, first_choice
from gateway.telemetry.metrics import RouterMetrics

logger = logging.getLogger(__name__)
MISS = Lookup(entry=None, similarity=0.0)


@dataclass(frozen=True, slots=True)
class RouterTools:
    """What every routed request shares, built once by the composition root."""

    pass_through: Strategy
    best_of_k: BestOfKTools
    stats: RouteStats
    cache: PatternCache
    metrics: RouterMetrics
    rng: random.Random = field(default_factory=random.Random)
    # The model's embedding upstream for near matches; None: the word-set sketch.
    embedder_for: Callable[[ModelGroup], Embedder | None] = lambda _: None
    # The Lens' failure prediction (L); None: L neutral, and nothing embedded for it.
    predictor_for: Callable[[ModelGroup], FailurePredictor | None] = lambda _: None


@dataclass(frozen=True, slots=True)
class Plan:
    reading: Reading
    scope: str
    features: Features
    route: Route
    k: int = 0
    difficulty: float = 0.0
    bin: int = 0
    hit: CacheEntry | None = None
    arms: dict[Route, int] = field(default_factory=dict)  # route -> k under the caps
    hints: Hints | None = None  # None: hints are off for this request

    def headers(self) -> dict[str, str]:
        headers = {"x-atlas-route": self.route, "x-atlas-difficulty": f"{self.difficulty:.3f}"}
        if self.hints is not None:
            headers["x-atlas-hints"] = str(self.hints.count)
        return headers


class RouterStrategy:
    def __init__(self, tools: RouterTools, settings: RouterSettings, k_cap: int) -> None:
        self._tools = tools
        self._settings = settings
        self._k_cap = max(1, min(k_cap, settings.best_of_k.max_k))

    async def _plan(self, call: Call) -> Plan | None:
        """None: pass through (no trusted tests, or no sandbox to check answers with)."""
        if not self._tools.best_of_k.verifier.available:
            return None  # nothing could check a candidate: nothing to route or learn
        reading = await read_call_off_loop(call)
        if not reading.trusted.tests:
            return None
        scope = scope_of(call.tenant, self._settings.cache.shared_tenants)
        predictor = self._tools.predictor_for(call.model)
        features, problem = await self._features(call, reading, predictor)
        lookup = await self._lookup(call, reading, scope, features)
        if lookup.entry is not None and await self._still_passes(lookup.entry, reading):
            await self._tools.cache.reinforce(call.model.name, scope, reading.key or "")
            self._tools.metrics.cache_lookups.labels(call.model.name, "hit").inc()
            return Plan(reading, scope, features, "cache", hit=lookup.entry)
        if lookup.entry is not None:  # stale or poisoned: never served, gone
            self._tools.metrics.cache_lookups.labels(call.model.name, "poisoned").inc()
            await self._tools.cache.evict(call.model.name, scope, reading.key or "", "poisoned")
            lookup = MISS
        elif self._caching(reading) and call.controls.cache:
            self._tools.metrics.cache_lookups.labels(call.model.name, "miss").inc()
        lens = await predicted_failure(predictor, problem)  # scored only for a miss
        plan = await self._route(call, reading, scope, features, lookup, lens)
        if not self._hinting(call):
            return plan
        return replace(plan, hints=await self._hints(call, scope, lookup))

    def _caching(self, reading: Reading) -> bool:
        return reading.key is not None and self._settings.cache.enabled

    def _hinting(self, call: Call) -> bool:
        asked = call.controls.hints
        return self._settings.cache.hints if asked is None else asked

    async def _hints(self, call: Call, scope: str, lookup: Lookup) -> Hints:
        if not lookup.near:
            return NO_HINTS
        entries = await self._tools.cache.entries(call.model.name, scope, lookup.near)
        return format_hints(entries, self._settings.cache.hint_budget_tokens)

    async def _features(
        self, call: Call, reading: Reading, predictor: FailurePredictor | None
    ) -> tuple[Features, list[float] | None]:
        """The near-match features and the vector the Lens scores, in one embedding
        request (prior.py); the sketch alone when neither is wanted."""
        caching = self._caching(reading)
        if not caching and predictor is None:
            return Features(reading.sketch), None
        embedded = await embed(
            self._tools.embedder_for(call.model),
            message_text(call.messages)[:SKETCH_CHARS] if caching else None,
            predictor.text(reading.prompt) if predictor is not None else None,
        )
        return Features(reading.sketch, embedded.near), embedded.problem

    async def _lookup(self, call: Call, reading: Reading, scope: str, features: Features) -> Lookup:
        if reading.key is None or not self._caching(reading):
            return MISS
        return await self._tools.cache.lookup(
            call.model.name, scope, reading.key, features, exact=call.controls.cache
        )

    async def _still_passes(self, entry: CacheEntry, reading: Reading) -> bool:
        tests = reading.trusted.tests
        result = await self._tools.best_of_k.verifier.trusted(
            Code(entry.language, entry.code), tests
        )
        return result.passed == len(tests)

    async def _route(
        self,
        call: Call,
        reading: Reading,
        scope: str,
        features: Features,
        lookup: Lookup,
        lens: float,
    ) -> Plan:
        familiarity = 1.0 - lookup.similarity if reading.key is not None else NEUTRAL
        signals = Signals(
            familiarity=familiarity,
            verifiability=verifiability(reading.trusted.source, len(reading.trusted.tests)),
            complexity=reading.complexity,
            lens=lens,
        )
        value = difficulty(signals, self._settings)
        bin_ = difficulty_bin(value, self._settings.bins)
        logger.debug(
            "router: %s D=%.3f bin=%d (F=%.3f V=%.3f C=%.3f L=%.3f)",
            call.model.name,
            value,
            bin_,
            signals.familiarity,
            signals.verifiability,
            signals.complexity,
            signals.lens,
        )
        ks = self._arms()
        route: Route = next(iter(ks))
        if len(ks) > 1:
            posteriors = await self._tools.stats.posteriors(call.model.name, bin_)
            route = choose_route(
                posteriors,
                ks,
                cost_weight=self._settings.cost_weight,
                prior_tokens=self._settings.prior_tokens,
                rng=self._tools.rng,
            )
        self._tools.metrics.difficulty.labels(call.model.name).observe(value)
        return Plan(reading, scope, features, route, ks[route], value, bin_, arms=ks)

    def _arms(self) -> dict[Route, int]:
        """Each route's k under the caps; a route whose k equals a cheaper one's is no arm."""
        ks: dict[Route, int] = {}
        routes = self._settings.routes
        for route, k in zip(ARMS, (routes.fast, routes.standard, routes.hard), strict=True):
            capped = min(k, self._k_cap)
            if capped not in ks.values():
                ks[route] = capped
        return ks

    async def run(self, call: Call) -> Answer:
        plan = await self._plan(call)
        if plan is None:
            return await self._tools.pass_through.run(call)
        self._tools.metrics.routes.labels(call.model.name, plan.route).inc()
        if plan.hit is not None:
            return _cached_answer(plan, plan.hit, call)
        return await self._search(call, plan)

    async def _search(self, call: Call, plan: Plan) -> Answer:
        hints = plan.hints or NO_HINTS
        routed = await routed_search(
            self._tools.best_of_k,
            self._settings.best_of_k,
            await _hinted_off_loop(call, hints),  # only the candidates see them
            plan.arms,
            plan.route,
            escalate=self._settings.escalate,
        )
        first = routed.first
        await self._learn(call, plan, first.served, first.usage)
        answer = routed.answer
        if answer.served.verified and call.controls.cache:
            await self._remember(call, plan, _completion(answer.body))
        # The difficulty and hints count of the plan; the route that made the answer.
        headers = {**plan.headers(), **answer.headers}
        return msgspec.structs.replace(answer, headers=headers)

    async def stream(self, call: Call) -> EventStream:
        plan = await self._plan(call)  # malformed request tests fail here, before any byte
        if plan is None:
            return await self._tools.pass_through.stream(call)
        self._tools.metrics.routes.labels(call.model.name, plan.route).inc()
        if plan.hit is not None:
            headers = {**_CACHE_HEADERS, "x-atlas-tests": _tests_header(plan.reading)}
            return EventStream(headers, _replay(plan.hit, call))
        headers = {**plan.headers(), "x-atlas-k": str(plan.k)}
        return EventStream(headers, self._events(call, plan))

    async def _events(self, call: Call, plan: Plan) -> AsyncGenerator[Event, None]:
        """The search with progress comments, then its answer replayed as chunks."""
        task = asyncio.ensure_future(self._search(call, plan))
        try:
            yield Comment(f"atlas router route={plan.route} k={plan.k}")
            async for comment in progress_until_done(
                task, self._tools.best_of_k.keepalive_s, lambda: "searching"
            ):
                yield comment
            try:
                answer = task.result()
            except EngineError as exc:
                yield Failure(exc)
                return
            yield Report(answer.usage, answer.lessons, answer.served)
            summary = " ".join(f"{k}={v}" for k, v in answer.headers.items())
            yield Comment(f"atlas {summary}")
            own = answer.served.answer_usage(answer.usage)
            for chunk in completion_chunks(_completion(answer.body), own, call.include_usage):
                yield chunk
            yield DONE
        finally:
            await cancel_and_wait(task)

    async def _learn(self, call: Call, plan: Plan, served: Served, usage: Usage) -> None:
        await self._tools.stats.record(
            call.model.name,
            plan.bin,
            plan.route,
            passed=served.verified,
            tokens=usage.completion_tokens,
        )

    async def _remember(self, call: Call, plan: Plan, completion: dict[str, Any]) -> None:
        reading = plan.reading
        if reading.key is None or not self._caching(reading):
            return
        content = first_choice(completion).get("message", {}).get("content") or ""
        code = await extract_code_off_loop(content, reading.entry_point)
        if code is None:
            return
        usage = completion.get("usage") or {}
        entry = CacheEntry(
            completion=completion,
            code=code.source,
            language=code.language,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            problem=message_text(call.messages)[:PROBLEM_CHARS],
        )
        await self._tools.cache.store(
            call.model.name, plan.scope, reading.key, plan.features, entry
        )


async def _hinted_off_loop(call: Call, hints: Hints) -> Call:
    """`hinted_call` (a decode and encode of the body), in a thread for a long body."""
    if not hints.count or len(call.body) <= 4 * OFF_LOOP_CHARS:
        return hinted_call(call, hints)
    return await asyncio.to_thread(hinted_call, call, hints)


_CACHE_HEADERS = {"x-atlas-route": "cache", "x-atlas-k": "0", "x-atlas-verified": "1"}


def _tests_header(reading: Reading) -> str:
    return f"{reading.trusted.source}:{len(reading.trusted.tests)}"


def _completion(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.json.decode(body)
    data.pop("atlas", None)  # the debug report belongs to the request that made it
    return data


def _cache_served(entry: CacheEntry) -> Served:
    own = Usage(
        prompt_tokens=entry.prompt_tokens,
        completion_tokens=entry.completion_tokens,
        total_tokens=entry.prompt_tokens + entry.completion_tokens,
    )
    return Served(route="cache", k=0, verified=True, returned=own)


def _fresh(entry: CacheEntry, call: Call) -> dict[str, Any]:
    return {
        **entry.completion,
        "id": f"chatcmpl-atlas-cache-{call.request_id}",
        "created": int(time.time()),
        "model": call.requested_model,
    }


def _cached_answer(plan: Plan, entry: CacheEntry, call: Call) -> Answer:
    """The stored answer; nothing was generated, so its usage (what is charged) is 0."""
    headers = {**_CACHE_HEADERS, "x-atlas-tests": _tests_header(plan.reading)}
    body = msgspec.json.encode(_fresh(entry, call))
    return Answer(body, Usage(), headers, None, _cache_served(entry))


async def _replay(entry: CacheEntry, call: Call) -> AsyncGenerator[Event, None]:
    served = _cache_served(entry)
    yield Report(Usage(), None, served)
    for chunk in completion_chunks(
        _fresh(entry, call), served.answer_usage(Usage()), call.include_usage
    ):
        yield chunk
    yield DONE
