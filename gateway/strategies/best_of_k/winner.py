"""Turning a best-of-k outcome into what the client receives: JSON with headers, or a
faithful chunk stream replaying the winner (role, content, tool calls, finish, usage)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec

from gateway.strategies.base import CandidateVerdict, Chunk, Decision
from gateway.strategies.best_of_k.candidates import Candidate, Outcome
from gateway.strategies.views import Usage, first_choice

PIECE_CHARS = 64
# A huge winner is replayed in bigger pieces rather than in millions of events.
MAX_PIECES = 1024


def outcome_headers(outcome: Outcome, k: int) -> dict[str, str]:
    return {
        "x-atlas-route": "best-of-k",
        "x-atlas-k": str(k),
        "x-atlas-candidates": str(len(outcome.completed())),
        "x-atlas-verified": str(outcome.verified),
        "x-atlas-selection": outcome.selection,
        "x-atlas-tests": f"{outcome.tests_source}:{outcome.tests_count}",
        "x-atlas-repair-rounds": str(outcome.repair_rounds),
        "x-atlas-repaired": str(outcome.repaired),
        "x-atlas-winner-round": str(outcome.winner.round),
        "x-atlas-total-prompt-tokens": str(outcome.total.prompt_tokens),
        "x-atlas-total-completion-tokens": str(outcome.total.completion_tokens),
        "x-atlas-total-tokens": str(outcome.total.total_tokens),
    }


def debug_report(outcome: Outcome) -> dict[str, Any]:
    return {
        "selection": outcome.selection,
        "winner": outcome.winner.index,
        "early_stop": outcome.early_stop,
        "tests": {"source": outcome.tests_source, "count": outcome.tests_count},
        "repair": {
            "rounds": outcome.repair_rounds,
            "repaired": outcome.repaired,
            "winner_round": outcome.winner.round,
        },
        "candidates": [
            {
                "index": c.index,
                "seed": c.seed,
                "completed": c.data is not None,
                "skipped": c.skipped,
                "error": c.error.message if c.error else None,
                "language": c.code.language if c.code else None,
                "round": c.round,
                "repaired_from": c.parent,
                "trusted_passed": c.trusted_passed,
                "failures": [f.reason for f in c.failures[:3]],
                "generated_passed": sorted(c.generated.passed) if c.generated else None,
                "scores": c.scores,
            }
            for c in outcome.candidates
        ],
    }


def decision_of(outcome: Outcome) -> Decision:
    """The search's decision for the request's trace (no code, no text)."""
    winner = outcome.winner.index
    return Decision(
        selection=outcome.selection,
        tests_source=outcome.tests_source,
        tests_count=outcome.tests_count,
        candidates=tuple(
            CandidateVerdict(
                index=c.index,
                round=c.round,
                verdict=_verdict(c, outcome.tests_count),
                passed=c.trusted_passed,
                error=c.error.message[:200] if c.error else None,
                winner=c.index == winner,
            )
            for c in outcome.candidates
        ),
    )


def _verdict(candidate: Candidate, tests: int) -> str:
    if candidate.skipped:
        return "skipped"
    if candidate.error is not None or candidate.data is None:
        return "error"
    if candidate.trusted_passed is None or tests == 0:
        return "unchecked"
    return "passed" if candidate.trusted_passed == tests else "failed"


def winner_json(outcome: Outcome, debug: bool) -> bytes:
    data = dict(outcome.winner.data or {})
    data.setdefault("usage", msgspec.to_builtins(outcome.winner.usage))
    if debug:
        data["atlas"] = debug_report(outcome)
    return msgspec.json.encode(data)


def winner_chunks(outcome: Outcome, include_usage: bool) -> Iterator[Chunk]:
    """The winner as chat.completion.chunk events (without the final [DONE])."""
    return completion_chunks(outcome.winner.data or {}, outcome.winner.usage, include_usage)


def completion_chunks(data: dict[str, Any], usage: Usage, include_usage: bool) -> Iterator[Chunk]:
    """A chat completion replayed as chunk events (without the final [DONE]): a best-of-k
    winner, or an answer from the pattern cache."""
    base = {
        "id": data.get("id", "chatcmpl-atlas"),
        "object": "chat.completion.chunk",
        "created": data.get("created", int(time.time())),
        "model": data.get("model", ""),
    }
    if "system_fingerprint" in data:
        base["system_fingerprint"] = data["system_fingerprint"]
    choice = first_choice(data)
    message = choice.get("message") or {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> Chunk:
        body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return Chunk(msgspec.json.encode(body))

    yield chunk({"role": "assistant", "content": ""})
    content = message.get("content") or ""
    step = max(PIECE_CHARS, -(-len(content) // MAX_PIECES))
    for start in range(0, len(content), step):
        yield chunk({"content": content[start : start + step]})
    for index, call in enumerate(message.get("tool_calls") or []):
        yield chunk({"tool_calls": [{**call, "index": index}]})
    yield chunk({}, choice.get("finish_reason") or "stop")
    if include_usage:
        shown = msgspec.to_builtins(usage if usage.total_tokens else Usage())
        yield Chunk(msgspec.json.encode({**base, "choices": [], "usage": shown}))
