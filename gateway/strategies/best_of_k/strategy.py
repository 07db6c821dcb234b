"""The best-of-k strategy: k candidates verified in the sandbox; the winner answers, as
JSON or replayed as a stream with progress comments while the candidates run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from config import BestOfKSettings
from engines import Dispatcher, EngineError
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
)
from gateway.strategies.best_of_k.candidates import Outcome
from gateway.strategies.best_of_k.generator import UpstreamGenerator
from gateway.strategies.best_of_k.orchestrator import BestOfK, Collaborators
from gateway.strategies.best_of_k.ports import Ranker, UsageCounter, Verifier
from gateway.strategies.best_of_k.verification import OFF_LOOP_CHARS
from gateway.strategies.best_of_k.winner import (
    decision_of,
    outcome_headers,
    winner_chunks,
    winner_json,
)
from gateway.strategies.model import ModelGroup

# Comment lines at least this often keep proxies and clients from timing out.
MAX_PROGRESS_INTERVAL_S = 10.0


async def progress_until_done(
    task: asyncio.Future[Any], keepalive_s: float, progress: Callable[[], str]
) -> AsyncGenerator[Comment, None]:
    """A progress comment at least every `keepalive_s` (capped) until `task` is done; the
    caller reads the result and cancels the task when its stream ends."""
    interval = min(keepalive_s, MAX_PROGRESS_INTERVAL_S)
    while not (await asyncio.wait({task}, timeout=interval))[0]:
        yield Comment(f"atlas {progress()}")


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Stop a stream's search task and let its clean-up (the upstream readers) finish."""
    task.cancel()
    await asyncio.shield(asyncio.gather(task, return_exceptions=True))


@dataclass(frozen=True, slots=True)
class BestOfKTools:
    """What every best-of-k request shares, built once by the composition root."""

    dispatcher: Dispatcher
    verifier: Verifier
    tokens: UsageCounter
    ranker_for: Callable[[ModelGroup], Ranker | None]
    keepalive_s: float


def generation_slots(group: ModelGroup) -> int:
    """How many requests the model's usable generation upstreams run at once: the most a
    search has in flight, so it never queues behind itself."""
    return max(1, sum(u.max_in_flight for u in group.generation.usable()))


class BestOfKStrategy:
    def __init__(self, tools: BestOfKTools, k: int, settings: BestOfKSettings) -> None:
        self._tools = tools
        self._k = k
        self._settings = settings

    async def _search(self, call: Call) -> BestOfK:
        """The search for `call`. Building it reads the prompt (entry point, examples):
        linear and capped, but for a long prompt done in a worker thread, off the loop."""
        if len(call.prompt_text) <= OFF_LOOP_CHARS:
            return self._build(call)
        return await asyncio.to_thread(self._build, call)

    def _build(self, call: Call) -> BestOfK:
        body: dict[str, Any] = msgspec.json.decode(call.body)
        collaborators = Collaborators(
            generator=UpstreamGenerator(
                self._tools.dispatcher,
                call.model,
                call.request_id,
                call.forward_headers,
                key=call.key_id,
            ),
            verifier=self._tools.verifier,
            tokens=self._tools.tokens,
            ranker=self._tools.ranker_for(call.model),
        )
        return BestOfK(
            body,
            call.messages,
            call.controls.tests,
            k=self._k,
            settings=self._settings,
            seed=call.seed,
            tools=collaborators,
            window=generation_slots(call.model),
            repair_rounds=call.controls.repair,
            # Waves after the first are as large as the slots free now (at least one).
            free_slots=call.model.generation.free_slots,
        )

    async def run(self, call: Call) -> Answer:
        search = await self._search(call)
        outcome = await search.execute()
        return Answer(
            winner_json(outcome, call.controls.debug),
            outcome.total,
            outcome_headers(outcome, self._k),
            outcome.lessons(search.prompt),
            self._served(outcome),
        )

    def _served(self, outcome: Outcome) -> Served:
        return Served(
            route="best-of-k",
            k=self._k,
            verified=outcome.winner_verified,
            returned=outcome.winner.usage,
            decision=decision_of(outcome),
        )

    async def stream(self, call: Call) -> EventStream:
        search = await self._search(call)  # malformed request tests fail here, before any byte
        headers = {"x-atlas-route": "best-of-k", "x-atlas-k": str(self._k)}
        return EventStream(headers, self._events(search, call.include_usage))

    async def _events(self, search: BestOfK, include_usage: bool) -> AsyncGenerator[Event, None]:
        task = asyncio.ensure_future(search.execute())
        try:
            yield Comment(f"atlas best-of-k k={self._k}")
            async for comment in progress_until_done(
                task, self._tools.keepalive_s, lambda: search.progress
            ):
                yield comment
            try:
                outcome = task.result()
            except EngineError as exc:
                yield Failure(exc)
                return
            yield Report(outcome.total, outcome.lessons(search.prompt), self._served(outcome))
            summary = " ".join(f"{k}={v}" for k, v in outcome_headers(outcome, self._k).items())
            yield Comment(f"atlas {summary}")
            for chunk in winner_chunks(outcome, include_usage):
                yield chunk
            yield DONE
        finally:
            await cancel_and_wait(task)
