"""A chat completion becomes a Responses object: the one translation out (JSON)."""

from __future__ import annotations

import secrets
import time
from typing import Literal

import msgspec

from engines import UpstreamProtocolError
from gateway.protocols.integers import plain_int
from gateway.protocols.responses.schemas import (
    ChatAnswer,
    ChatUsage,
    FunctionCallItem,
    IncompleteDetails,
    MessageItem,
    OutputItem,
    OutputText,
    ResponseObject,
    ResponsesRequest,
    ResponseUsage,
    TextFormat,
    TextOptions,
)

ItemStatus = Literal["completed", "incomplete"]
_CHAT_ANSWER = msgspec.json.Decoder(ChatAnswer)
_ENCODER = msgspec.json.Encoder()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def response_shell(request: ResponsesRequest, response_id: str) -> ResponseObject:
    """The response object before any output: what the request asked, echoed."""
    return ResponseObject(
        id=response_id,
        created_at=int(time.time()),
        status="in_progress",
        instructions=request.instructions,
        max_output_tokens=plain_int(request.max_output_tokens),
        model=request.model,
        parallel_tool_calls=request.parallel_tool_calls is not False,
        temperature=request.temperature,
        text=_text_options(request),
        tool_choice=request.tool_choice if request.tool_choice is not None else "auto",
        tools=[tool for tool in request.tools or () if tool.get("type") == "function"],
        top_p=request.top_p,
        user=request.user,
        metadata=request.metadata or {},
    )


def _text_options(request: ResponsesRequest) -> TextOptions:
    if request.text is not None and request.text.format is not None:
        return TextOptions(format=request.text.format)
    return TextOptions(format=TextFormat(type="text"))


def response_usage(usage: ChatUsage | None) -> ResponseUsage | None:
    if usage is None:
        return None
    total = usage.total_tokens
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=total if total is not None else usage.prompt_tokens + usage.completion_tokens,
    )


def finished(response: ResponseObject, finish_reason: str | None) -> None:
    """Set the final status from chat's finish_reason."""
    if finish_reason == "length":
        response.status = "incomplete"
        response.incomplete_details = IncompleteDetails(reason="max_output_tokens")
    elif finish_reason == "content_filter":
        response.status = "incomplete"
        response.incomplete_details = IncompleteDetails(reason="content_filter")
    else:
        response.status = "completed"


def responses_answer(chat_answer: bytes, request: ResponsesRequest) -> bytes:
    """The Responses JSON for a checked chat completion (its first choice)."""
    try:
        answer = _CHAT_ANSWER.decode(chat_answer)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise UpstreamProtocolError(f"a chat answer ATLAS cannot translate: {exc}") from None
    response = response_shell(request, new_id("resp"))
    choice = answer.choices[0] if answer.choices else None
    if choice is not None:
        status: ItemStatus = "incomplete" if choice.finish_reason == "length" else "completed"
        output: list[OutputItem] = []
        message = choice.message
        if message.content:
            output.append(
                MessageItem(
                    id=new_id("msg"), status=status, content=[OutputText(text=message.content)]
                )
            )
        for call in message.tool_calls or ():
            function = call.function
            output.append(
                FunctionCallItem(
                    id=new_id("fc"),
                    status=status,
                    call_id=call.id or new_id("call"),
                    name=(function.name if function else None) or "",
                    arguments=(function.arguments if function else None) or "",
                )
            )
        response.output = output
    finished(response, choice.finish_reason if choice else None)
    response.usage = response_usage(answer.usage)
    return _ENCODER.encode(response)
