"""OpenAI-shaped answers as the gateway reads them from upstreams: usage, and views
that decode only the fields it needs from completions and stream chunks."""

from __future__ import annotations

from typing import Any

import msgspec


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def plus(self, other: Usage) -> Usage:
        prompt = self.prompt_tokens + other.prompt_tokens
        completion = self.completion_tokens + other.completion_tokens
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


# Views used to read upstream answers without building whole objects. Decoding into
# them is also the check that an answer is the API (gateway/strategies/replies.py).
class DeltaView(msgspec.Struct):
    content: str | None = None


class ChunkChoiceView(msgspec.Struct):
    delta: DeltaView | None = None
    text: str | None = None
    finish_reason: str | None = None


class ChunkView(msgspec.Struct):
    choices: list[ChunkChoiceView] | None = None
    usage: Usage | None = None
    error: Any = None  # an upstream that reports a failure inside the stream


class MessageView(msgspec.Struct):
    content: str | None = None


class ChoiceView(msgspec.Struct):
    message: MessageView | None = None
    text: str | None = None


class CompletionView(msgspec.Struct):
    choices: list[ChoiceView]  # required: an answer without choices is not a completion
    usage: Usage | None = None


def first_choice(data: dict[str, Any]) -> dict[str, Any]:
    """The first choice of a decoded completion, {} when it has none."""
    choices = data.get("choices") or [{}]
    first: dict[str, Any] = choices[0]
    return first


def first_message_text(data: dict[str, Any]) -> str:
    """The content of the first choice's message of a decoded chat completion."""
    return (first_choice(data).get("message") or {}).get("content") or ""
