"""What the router reads of a call before deciding: its trusted tests, complexity and
cache key. Linear and capped; a long prompt is read in a worker thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.strategies.base import Call
from gateway.strategies.best_of_k.prompt_context import problem_text
from gateway.strategies.best_of_k.testgen import entry_point_of
from gateway.strategies.best_of_k.verification import OFF_LOOP_CHARS, TrustedTests, trusted_tests
from gateway.strategies.router.difficulty import complexity
from gateway.strategies.router.patterns import cacheable, message_text, request_key, sketch


@dataclass(frozen=True, slots=True)
class Reading:
    prompt: str
    entry_point: str | None
    trusted: TrustedTests
    complexity: float
    key: str | None  # None: not cacheable (multi-turn)
    sketch: bytes


def read_call(call: Call) -> Reading:
    prompt = problem_text(call.messages)
    entry = entry_point_of(prompt)
    trusted = trusted_tests(call.controls.tests, prompt, entry)  # malformed tests: a 400
    key: str | None = None
    if trusted.tests and cacheable(call):
        body: dict[str, Any] = msgspec.json.decode(call.body)
        key = request_key(call, body)
    return Reading(
        prompt, entry, trusted, complexity(prompt), key, sketch(message_text(call.messages))
    )


async def read_call_off_loop(call: Call) -> Reading:
    """`read_call`, in a worker thread past OFF_LOOP_CHARS of prompt or body."""
    if len(call.prompt_text) <= OFF_LOOP_CHARS and len(call.body) <= 4 * OFF_LOOP_CHARS:
        return read_call(call)
    return await asyncio.to_thread(read_call, call)
