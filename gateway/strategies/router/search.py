"""A routed request's search: best-of-k with its route's k, and, when no candidate
passed the trusted tests and `escalate` is on, the next route's extra candidates (new
seeds, sampled), up to the costliest route. The jail's verdict is known for free, so a
failed cheap start costs only what it generated; a verified one stops there."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from config import BestOfKSettings
from engines import EngineError
from gateway.strategies.base import Answer, Call
from gateway.strategies.best_of_k.strategy import BestOfKStrategy, BestOfKTools
from gateway.strategies.router.bandit import Route
from gateway.strategies.views import Usage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Routed:
    answer: Answer  # the last stage's answer; its usage, headers and served cover all stages
    route: Route  # the route whose candidates made it
    first: Answer  # the starting route's own answer: what the bandit learns from


async def routed_search(
    tools: BestOfKTools,
    settings: BestOfKSettings,
    call: Call,
    arms: dict[Route, int],
    start: Route,
    *,
    escalate: bool,
) -> Routed:
    order = list(arms)  # cheapest first
    route = made_by = start
    done = 0
    stages: list[Answer] = []
    while True:
        k = arms[route] - done
        stage = call if done == 0 else _stage_call(call, settings, done, k)
        try:
            answer = await BestOfKStrategy(tools, k, settings).run(stage)
        except EngineError as exc:
            if not stages:
                raise
            logger.warning("router: escalation to %s failed, keeping the answer: %s", route, exc)
            break
        stages.append(answer)
        made_by, done = route, arms[route]
        position = order.index(route) + 1
        if answer.served.verified or not escalate or position >= len(order):
            break
        route = order[position]
    return Routed(_combined(stages, made_by, arms[made_by]), made_by, stages[0])


def _stage_call(call: Call, settings: BestOfKSettings, offset: int, k: int) -> Call:
    """The call for an escalation stage: seeds after those already used, and sampled
    (the client's own greedy request was candidate 0 of the first stage)."""
    body: dict[str, Any] = msgspec.json.decode(call.body)
    seed = (call.seed if call.seed is not None else settings.seed_base) + offset
    body["seed"] = seed
    if not body.get("temperature"):
        body["temperature"] = settings.temperature(k)
    return msgspec.structs.replace(call, body=msgspec.json.encode(body), seed=seed)


def _combined(stages: list[Answer], route: Route, k: int) -> Answer:
    last = stages[-1]
    total = Usage()
    candidates = 0
    for stage in stages:
        total = total.plus(stage.usage)
        candidates += int(stage.headers.get("x-atlas-candidates", "0"))
    headers = {
        **last.headers,
        "x-atlas-route": route,
        "x-atlas-k": str(k),
        "x-atlas-candidates": str(candidates),
        "x-atlas-escalated": str(len(stages) - 1),
        "x-atlas-total-prompt-tokens": str(total.prompt_tokens),
        "x-atlas-total-completion-tokens": str(total.completion_tokens),
        "x-atlas-total-tokens": str(total.total_tokens),
    }
    served = msgspec.structs.replace(last.served, route=route, k=k)
    return msgspec.structs.replace(last, usage=total, headers=headers, served=served)
