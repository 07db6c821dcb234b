"""A chat completion as a Messages API message.

The first choice's text becomes a text block and each tool call a tool_use block whose
`input` is the call's arguments decoded. Arguments that are not a JSON object (a small
model's broken JSON) are an `UpstreamProtocolError`, a 502: a client cannot run a tool
on them, and passing them on as text would hide the failure."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from engines import UpstreamProtocolError
from gateway.protocols.messages.schemas import (
    Message,
    MessageUsage,
    StopReason,
    TextOut,
    ToolUseOut,
)

# Chat finish reasons as Messages stop reasons. Chat does not say which stop sequence
# ended an answer, so "stop" is always end_turn and `stop_sequence` stays null.
STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class _Function(msgspec.Struct):
    name: str = ""
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    id: str | None = None
    function: _Function | None = None


class _ChatMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _ChatMessage | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Completion(msgspec.Struct):
    choices: list[_Choice]
    usage: _Usage | None = None


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def new_tool_use_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def stop_reason(finish_reason: str | None) -> StopReason:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def tool_input(arguments: str | None, name: str) -> dict[str, Any]:
    """A tool call's arguments as the tool_use `input` object ("" is {})."""
    if not arguments or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(
            f"the model called tool {name!r} with arguments that are not a JSON object: "
            f"{arguments[:200]!r}"
        )
    return value


def message_body(chat_answer: bytes, *, model: str, message_id: str) -> bytes:
    """The Message JSON for a chat completion (already checked to be one upstream)."""
    try:
        completion = msgspec.json.decode(chat_answer, type=_Completion)
    except msgspec.DecodeError as exc:
        raise UpstreamProtocolError(f"the answer is not a chat completion: {exc}") from None
    if not completion.choices:
        raise UpstreamProtocolError("the chat completion has no choices")
    choice = completion.choices[0]
    chat = choice.message or _ChatMessage()
    content: list[TextOut | ToolUseOut] = []
    if chat.content:
        content.append(TextOut(text=chat.content))
    for call in chat.tool_calls or ():
        function = call.function or _Function()
        content.append(
            ToolUseOut(
                id=call.id or new_tool_use_id(),
                name=function.name,
                input=tool_input(function.arguments, function.name),
            )
        )
    reason = stop_reason(choice.finish_reason)
    if reason == "end_turn" and chat.tool_calls:
        reason = "tool_use"  # some servers say "stop" after a tool call
    usage = completion.usage or _Usage()
    message = Message(
        id=message_id,
        model=model,
        content=content,
        stop_reason=reason,
        stop_sequence=None,
        usage=MessageUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens),
    )
    return msgspec.json.encode(message)
