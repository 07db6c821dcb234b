"""A Messages request as a chat-completions request: the body to send upstream and its
chat messages (for best-of-k's prompt reading and the token estimate).

Mapping, block by block: text → text; image (base64 or url source) → an `image_url`
part; an assistant's tool_use → a chat `tool_calls` entry with JSON-encoded arguments;
a user's tool_result → a `tool` message (text only: its images follow in a user
message); thinking and redacted_thinking are dropped (chat has no way to send them
back). A `role: "system"` message stays a system message where it stands."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec

from gateway.protocols.messages.schemas import (
    ContentBlock,
    ImageBlock,
    InputMessage,
    MessagesRequest,
    TextBlock,
    Tool,
    ToolChoice,
    ToolResultBlock,
    ToolUseBlock,
)
from gateway.strategies.errors import InvalidCallError

logger = logging.getLogger(__name__)

ChatRole = Literal["system", "user", "assistant", "tool"]
TOOL_ERROR_NOTE = "The tool reported an error:\n"


class ChatTurn(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One chat message of the translated request (satisfies strategies' `Message`)."""

    role: ChatRole
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ChatTranslation(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes  # the chat-completions JSON body
    messages: list[ChatTurn]
    has_tools: bool


def to_chat(request: MessagesRequest) -> ChatTranslation:
    messages = chat_messages(request.system, request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": int(request.max_tokens),
        "stream": request.stream,
    }
    for name, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("top_k", None if request.top_k is None else int(request.top_k)),
        ("stop", request.stop_sequences or None),
    ):
        if value is not None:
            body[name] = value
    tools = chat_tools(request.tools)
    if tools:
        body["tools"] = tools
        body.update(_tool_choice(request.tool_choice))
    return ChatTranslation(body=msgspec.json.encode(body), messages=messages, has_tools=bool(tools))


def chat_messages(
    system: str | list[TextBlock] | None, messages: list[InputMessage]
) -> list[ChatTurn]:
    out: list[ChatTurn] = []
    if system:
        text = system if isinstance(system, str) else _joined(system)
        out.append(ChatTurn(role="system", content=text))
    for message in messages:
        if message.role == "assistant":
            out.append(_assistant(message.content))
        elif message.role == "system":
            content = message.content
            out.append(ChatTurn(role="system", content=_text_only(content)))
        else:
            out.extend(_user(message.content))
    return out


def counted_text(messages: list[ChatTurn], tools: list[dict[str, Any]]) -> str:
    """What count_tokens counts: every message's text, the tool calls' names and
    arguments, and the tool definitions as JSON."""
    parts: list[str] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            parts.append(content)
        elif content is not None:
            parts.extend(str(p.get("text", "")) for p in content)
        for call in message.tool_calls or ():
            function = call["function"]
            parts.append(f"{function['name']} {function['arguments']}")
    if tools:
        parts.append(msgspec.json.encode(tools).decode())
    return "\n".join(parts)


def chat_tools(tools: list[Tool] | None) -> list[dict[str, Any]]:
    """Client tools as chat function tools. Server tools (a `type` such as
    web_search_20250305, and no `input_schema`) run at Anthropic, never on a local
    model: they are dropped."""
    out = []
    for tool in tools or ():
        if tool.input_schema is None or tool.type not in (None, "custom"):
            logger.info("dropped server tool %r (type %r)", tool.name, tool.type)
            continue
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
        if tool.description is not None:
            function["description"] = tool.description
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: ToolChoice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    fields: dict[str, Any] = {}
    if choice.type == "auto":
        fields["tool_choice"] = "auto"
    elif choice.type == "any":
        fields["tool_choice"] = "required"
    elif choice.type == "none":
        fields["tool_choice"] = "none"
    elif choice.name:
        fields["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        raise InvalidCallError(
            'tool_choice of type "tool" needs the tool\'s `name`',
            param="tool_choice.name",
            code="invalid_value",
        )
    if choice.disable_parallel_tool_use:
        fields["parallel_tool_calls"] = False
    return fields


def _assistant(content: str | list[ContentBlock]) -> ChatTurn:
    if isinstance(content, str):
        return ChatTurn(role="assistant", content=content)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            arguments = msgspec.json.encode(block.input).decode()
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        # thinking, redacted_thinking: dropped; images and tool results: not an
        # assistant's to send (the API refuses them), so dropped too.
    text = "\n".join(texts)
    if calls:
        return ChatTurn(role="assistant", content=text or None, tool_calls=calls)
    return ChatTurn(role="assistant", content=text)


def _user(content: str | list[ContentBlock]) -> list[ChatTurn]:
    """Tool results first (chat wants them right after the assistant's calls), then the
    rest of the turn as one user message."""
    if isinstance(content, str):
        return [ChatTurn(role="user", content=content)]
    tools: list[ChatTurn] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, ToolResultBlock):
            text, images = _tool_result(block)
            tools.append(ChatTurn(role="tool", content=text, tool_call_id=block.tool_use_id))
            parts.extend(images)
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
    if not parts:
        return tools
    return [*tools, ChatTurn(role="user", content=_compact(parts))]


def _tool_result(block: ToolResultBlock) -> tuple[str, list[dict[str, Any]]]:
    content = block.content
    images: list[dict[str, Any]] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "\n".join(b.text for b in content if isinstance(b, TextBlock))
        images = [_image_part(b) for b in content if isinstance(b, ImageBlock)]
    return (TOOL_ERROR_NOTE + text if block.is_error else text), images


def _image_part(block: ImageBlock) -> dict[str, Any]:
    source = block.source
    if source.type == "base64":
        url = f"data:{source.media_type or 'image/png'};base64,{source.data or ''}"
    else:
        url = source.url or ""
    return {"type": "image_url", "image_url": {"url": url}}


def _compact(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Text alone becomes one string (every chat template reads that); with images, the
    parts stay a list."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _text_only(content: str | list[ContentBlock]) -> str:
    if isinstance(content, str):
        return content
    return _joined([b for b in content if isinstance(b, TextBlock)])


def _joined(blocks: list[TextBlock]) -> str:
    return "\n".join(block.text for block in blocks)
