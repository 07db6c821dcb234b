"""Strategy hints: verified answers to similar problems of the same scope, written into
the system message of a routed search's candidate requests.

Pure functions: `format_hints` turns stored entries into one deterministic text within a
token budget (estimated at CHARS_PER_TOKEN, like the relay's estimate), `hinted_call`
the call whose body the candidates are sent with. The call's decoded `messages` stay the
client's, so what best-of-k reads of the problem (the trusted tests, the Lens' problem
text, the prompt's imports) is the original request's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.strategies.base import Call
from gateway.strategies.relay import CHARS_PER_TOKEN
from gateway.strategies.router.patterns import CacheEntry

HINTS_INTRO = (
    "Verified solutions to similar problems from this workspace "
    "(for reference; they solved different problems):"
)
TRUNCATED = "\n# ... (truncated)"
# A hint whose code would get fewer characters than this is left out, not cut to nothing.
MIN_CODE_CHARS = 80


class Hints(msgspec.Struct, frozen=True):
    text: str  # "" when no hint fits
    count: int


NO_HINTS = Hints("", 0)


def format_hints(entries: Sequence[CacheEntry], budget_tokens: int) -> Hints:
    """The intro, then each entry's problem and verified code in order, while the whole
    text stays within `budget_tokens`; the last hint's code is cut to fit."""
    budget = budget_tokens * CHARS_PER_TOKEN - len(HINTS_INTRO)
    parts: list[str] = []
    for number, entry in enumerate(entries, 1):
        head = (
            f"\n\n{number}. Problem: {_one_line(entry.problem)}\nSolution:\n```{entry.language}\n"
        )
        tail = "\n```"
        room = budget - len(head) - len(tail)
        if room < MIN_CODE_CHARS:
            break
        code = entry.code.strip()
        if len(code) > room:
            code = code[: room - len(TRUNCATED)].rstrip() + TRUNCATED
        hint = head + code + tail
        parts.append(hint)
        budget -= len(hint)
    if not parts:
        return NO_HINTS
    return Hints(HINTS_INTRO + "".join(parts), len(parts))


def _one_line(problem: str) -> str:
    return " ".join(problem.split()) or "(not recorded)"


def hinted_call(call: Call, hints: Hints) -> Call:
    """`call` with the hints at the end of its first system (or developer) message, or in
    a new system message first; the decoded messages are left as the client sent them."""
    if not hints.count:
        return call
    body: dict[str, Any] = msgspec.json.decode(call.body)
    body["messages"] = with_system_text(list(body.get("messages") or []), hints.text)
    return msgspec.structs.replace(call, body=msgspec.json.encode(body))


def with_system_text(messages: list[Any], text: str) -> list[Any]:
    first = messages[0] if messages else None
    if isinstance(first, dict) and first.get("role") in ("system", "developer"):
        content = first.get("content")
        if isinstance(content, str):
            return [
                {**first, "content": f"{content}\n\n{text}" if content else text},
                *messages[1:],
            ]
        if isinstance(content, list):
            part = {"type": "text", "text": text}
            return [{**first, "content": [*content, part]}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]
