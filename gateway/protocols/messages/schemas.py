"""Wire schemas of the Anthropic Messages API, as far as the gateway reads or writes them.

Requests are decoded to validate and translate; fields with no chat-completions
equivalent (`metadata`, `thinking`, `context_management`, `output_config`,
`service_tier`, `cache_control` on blocks) are not declared, so msgspec skips them.
Content blocks are a union tagged by `type`: a block type not listed here is a 400
that names it, never silently dropped."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gateway.protocols.integers import Integer

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]


# --- request -------------------------------------------------------------------
class TextBlock(msgspec.Struct, kw_only=True, tag_field="type", tag="text"):
    text: str


class ImageSource(msgspec.Struct, kw_only=True):
    type: Literal["base64", "url"]
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(msgspec.Struct, kw_only=True, tag_field="type", tag="image"):
    source: ImageSource


class ToolUseBlock(msgspec.Struct, kw_only=True, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(msgspec.Struct, kw_only=True, tag_field="type", tag="tool_result"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool = False


class ThinkingBlock(msgspec.Struct, kw_only=True, tag_field="type", tag="thinking"):
    thinking: str = ""


class RedactedThinkingBlock(
    msgspec.Struct, kw_only=True, tag_field="type", tag="redacted_thinking"
):
    data: str = ""


ContentBlock = (
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock
)


class InputMessage(msgspec.Struct, kw_only=True):
    # "system" inside `messages`: Claude Code sends one after the first user turn.
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class Tool(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    # Absent on server tools (web_search, bash, ...), which carry a `type` instead.
    input_schema: dict[str, Any] | None = None
    type: str | None = None


class ToolChoice(msgspec.Struct, kw_only=True):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class MessagesRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[InputMessage]
    max_tokens: Integer
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: Integer | None = None
    stream: bool = False
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None


class CountTokensRequest(msgspec.Struct, kw_only=True):
    """POST /v1/messages/count_tokens: a Messages request without `max_tokens`."""

    model: str
    messages: list[InputMessage]
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None


class TokenCount(msgspec.Struct, kw_only=True):
    input_tokens: int


# --- answer ----------------------------------------------------------------------
class TextOut(msgspec.Struct, kw_only=True, tag_field="type", tag="text"):
    text: str


class ToolUseOut(msgspec.Struct, kw_only=True, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any]


class MessageUsage(msgspec.Struct, kw_only=True):
    input_tokens: int
    output_tokens: int


class Message(msgspec.Struct, kw_only=True, tag_field="type", tag="message"):
    id: str
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[TextOut | ToolUseOut]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: MessageUsage


# --- stream events ---------------------------------------------------------------
class MessageStart(msgspec.Struct, kw_only=True, tag_field="type", tag="message_start"):
    message: Message


class ContentBlockStart(msgspec.Struct, kw_only=True, tag_field="type", tag="content_block_start"):
    index: int
    content_block: TextOut | ToolUseOut


class TextDelta(msgspec.Struct, kw_only=True, tag_field="type", tag="text_delta"):
    text: str


class InputJsonDelta(msgspec.Struct, kw_only=True, tag_field="type", tag="input_json_delta"):
    partial_json: str


class ContentBlockDelta(msgspec.Struct, kw_only=True, tag_field="type", tag="content_block_delta"):
    index: int
    delta: TextDelta | InputJsonDelta


class ContentBlockStop(msgspec.Struct, kw_only=True, tag_field="type", tag="content_block_stop"):
    index: int


class StopDelta(msgspec.Struct, kw_only=True):
    stop_reason: StopReason
    stop_sequence: str | None = None


class MessageDelta(msgspec.Struct, kw_only=True, tag_field="type", tag="message_delta"):
    delta: StopDelta
    usage: MessageUsage


class MessageStop(msgspec.Struct, kw_only=True, tag_field="type", tag="message_stop"):
    pass


class Ping(msgspec.Struct, kw_only=True, tag_field="type", tag="ping"):
    pass


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
)


# --- errors ----------------------------------------------------------------------
ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]


class ErrorDetail(msgspec.Struct, kw_only=True):
    type: ErrorType
    message: str


class ErrorBody(msgspec.Struct, kw_only=True, tag_field="type", tag="error"):
    """The body of an error answer, and the data of a stream's `error` event."""

    error: ErrorDetail
