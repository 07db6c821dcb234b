"""A Responses request becomes a chat-completions body: the one translation in.

Instructions and system/developer items become system messages; message items with
`input_text`/`input_image` parts become chat messages; `function_call` and
`function_call_output` items become an assistant's `tool_calls` and `tool` messages.
What no chat upstream can honour is either dropped on purpose (listed in
docs/responses-api.md) or refused with a 400 that names the field."""

from __future__ import annotations

import logging
from typing import Any

from gateway.protocols.responses.schemas import ResponsesRequest, TextFormat
from gateway.strategies.errors import InvalidCallError

logger = logging.getLogger(__name__)

# Hosted tools (web_search, file_search, namespace, mcp, ...) have no chat equivalent;
# Codex sends some on every turn, so they are dropped rather than refused.
FUNCTION_TOOL = "function"
SYSTEM_ROLES = ("system", "developer")
DROPPED_ITEMS = ("reasoning",)  # a reasoning model's own notes: nothing to replay
MAX_NOTED_KINDS = 64
_dropped_kinds: set[str] = set()


def chat_body(request: ResponsesRequest) -> dict[str, Any]:
    """The chat-completions request that answers `request` (streamed with usage)."""
    _refuse_stored_state(request)
    body: dict[str, Any] = {"model": request.model, "messages": chat_messages(request)}
    tools = chat_tools(request.tools)
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        choice = _tool_choice(request.tool_choice, tools)
        if tools:  # without tools a chat upstream may refuse any tool_choice
            body["tool_choice"] = choice
    if request.parallel_tool_calls is not None and tools:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_output_tokens is not None:
        body["max_tokens"] = int(request.max_output_tokens)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.text is not None and request.text.format is not None:
        response_format = _response_format(request.text.format)
        if response_format is not None:
            body["response_format"] = response_format
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # usage goes in response.completed
    if request.atlas is not None:
        body["atlas"] = request.atlas
    return body


def _refuse_stored_state(request: ResponsesRequest) -> None:
    if request.previous_response_id is not None:
        raise InvalidCallError(
            "ATLAS does not store responses, so `previous_response_id` cannot be resolved: "
            "send the whole conversation in `input` (with `store: false`)",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    if request.conversation is not None:
        raise InvalidCallError(
            "ATLAS does not keep conversations: send the whole conversation in `input`",
            param="conversation",
            code="unsupported_parameter",
        )


def chat_messages(request: ResponsesRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    items = request.input
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    for index, item in enumerate(items):
        _add_item(messages, item, f"input[{index}]")
    if not messages:
        raise InvalidCallError("`input` has no messages", param="input", code="invalid_value")
    return _merge_system_runs(messages)


def _merge_system_runs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent system messages as one: Codex sends several developer items in a row,
    and some chat templates accept a single system message only."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and message["role"] == previous["role"] == "system"
            and isinstance(message["content"], str)
            and isinstance(previous["content"], str)
        ):
            previous["content"] += "\n\n" + message["content"]
            continue
        merged.append(message)
    return merged


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, where))
    elif kind == "function_call":
        _add_function_call(messages, item, where)
    elif kind == "function_call_output":
        messages.append(
            {
                "role": "tool",
                "tool_call_id": _text_field(item, "call_id", where),
                "content": _output_text(item.get("output"), f"{where}.output"),
            }
        )
    elif kind in DROPPED_ITEMS:
        return
    else:
        raise InvalidCallError(
            f"input items of type {kind!r} are not supported by ATLAS "
            "(message, function_call, function_call_output and reasoning are)",
            param=f"{where}.type",
            code="unsupported_value",
        )


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", *SYSTEM_ROLES):
        raise InvalidCallError(
            f"a message's role must be user, assistant, system or developer, got {role!r}",
            param=f"{where}.role",
            code="invalid_value",
        )
    # llama-server's chat templates know `system`, not OpenAI's newer `developer`.
    chat_role = "system" if role in SYSTEM_ROLES else role
    return {"role": chat_role, "content": _content(item.get("content"), f"{where}.content")}


def _content(content: object, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidCallError(
            "a message's content must be a string or a list of parts",
            param=where,
            code="invalid_value",
        )
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        parts.append(_part(part, f"{where}[{index}]"))
    if all(part["type"] == "text" for part in parts):
        return "".join(part["text"] for part in parts)  # plain text suits every template
    return parts


def _part(part: object, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part, dict):
        return {"type": "text", "text": _text_field(part, "text", where)}
    if kind == "input_image" and isinstance(part, dict):
        url = part.get("image_url")
        if not isinstance(url, str):
            raise InvalidCallError(
                "an input_image needs `image_url` (a URL or a data: URL); file_id is not "
                "supported by ATLAS",
                param=f"{where}.image_url",
                code="unsupported_value",
            )
        image: dict[str, Any] = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "refusal" and isinstance(part, dict):
        return {"type": "text", "text": str(part.get("refusal", ""))}
    raise InvalidCallError(
        f"content parts of type {kind!r} are not supported by ATLAS "
        "(input_text, output_text and input_image are)",
        param=f"{where}.type",
        code="unsupported_value",
    )


def _add_function_call(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    call = {
        "id": _text_field(item, "call_id", where),
        "type": "function",
        "function": {
            "name": _text_field(item, "name", where),
            "arguments": _text_field(item, "arguments", where),
        },
    }
    last = messages[-1] if messages else None
    # One assistant turn in chat: its text and all the calls it made together.
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        if last.get("content") == "":
            last["content"] = None
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _output_text(output: object, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            texts.append(_text_field(_dict(part, f"{where}[{index}]"), "text", f"{where}[{index}]"))
        return "".join(texts)
    raise InvalidCallError(
        "a function_call_output's output must be a string or a list of input_text parts",
        param=where,
        code="invalid_value",
    )


def _dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidCallError("expected an object", param=where, code="invalid_value")
    return value


def _text_field(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise InvalidCallError(
            f"`{name}` must be a string", param=f"{where}.{name}", code="invalid_value"
        )
    return value


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Function tools in chat's nesting; hosted tool types are dropped, with a log line."""
    kept: list[dict[str, Any]] = []
    for index, tool in enumerate(tools or ()):
        kind = tool.get("type")
        if kind != FUNCTION_TOOL:
            _note_dropped(kind)
            continue
        name = _text_field(tool, "name", f"tools[{index}]")
        function: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        if isinstance(tool.get("parameters"), dict):
            function["parameters"] = tool["parameters"]
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        kept.append({"type": "function", "function": function})
    return kept


def _note_dropped(kind: object) -> None:
    # A warning the first time a tool type is seen, not on every turn of every client.
    name = str(kind)[:40]
    if name in _dropped_kinds:
        return
    if len(_dropped_kinds) < MAX_NOTED_KINDS:
        _dropped_kinds.add(name)
    logger.warning("responses: tools of type %r have no chat equivalent; dropped", name)


def _tool_choice(choice: str | dict[str, Any], tools: list[dict[str, Any]]) -> object:
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise InvalidCallError(
                "tool_choice must be auto, none, required or a function",
                param="tool_choice",
                code="invalid_value",
            )
        if choice == "required" and not tools:
            raise InvalidCallError(
                "tool_choice is required but no function tools were given (hosted tools "
                "are not supported by ATLAS)",
                param="tool_choice",
                code="invalid_value",
            )
        return choice
    if choice.get("type") == FUNCTION_TOOL and isinstance(choice.get("name"), str):
        names = {tool["function"]["name"] for tool in tools}
        if choice["name"] not in names:
            raise InvalidCallError(
                f"tool_choice names {choice['name']!r}, which is not among the function tools",
                param="tool_choice.name",
                code="invalid_value",
            )
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidCallError(
        "tool_choice may name a function tool only: hosted tools are not supported by ATLAS",
        param="tool_choice",
        code="unsupported_value",
    )


def _response_format(text_format: TextFormat) -> dict[str, Any] | None:
    if text_format.type == "text":
        return None
    if text_format.type == "json_object":
        return {"type": "json_object"}
    if text_format.schema is None:
        raise InvalidCallError(
            "a json_schema text format needs `schema`",
            param="text.format.schema",
            code="invalid_value",
        )
    schema: dict[str, Any] = {"name": text_format.name or "response", "schema": text_format.schema}
    if text_format.strict is not None:
        schema["strict"] = text_format.strict
    return {"type": "json_schema", "json_schema": schema}
