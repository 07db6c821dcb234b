"""A chat stream's chunks as Messages stream events.

`StreamTranslator` is a small state machine over the chunks of one choice: it opens a
content block when text or a new tool call begins (closing the one before), sends
text as `text_delta` and tool arguments as `input_json_delta`, closes the open block
at the finish_reason, keeps the usage chunk's counts, and ends with `message_delta`
then `message_stop`. A tool call's arguments are checked to be a JSON object when its
block closes, as in a JSON answer (`answer.tool_input`)."""

from __future__ import annotations

from typing import Literal

import msgspec

from engines import UpstreamProtocolError
from gateway.protocols.messages.answer import new_tool_use_id, stop_reason, tool_input
from gateway.protocols.messages.schemas import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    ErrorBody,
    ErrorDetail,
    ErrorType,
    InputJsonDelta,
    Message,
    MessageDelta,
    MessageStart,
    MessageStop,
    MessageUsage,
    Ping,
    StopDelta,
    StopReason,
    StreamEvent,
    TextDelta,
    TextOut,
    ToolUseOut,
)

# Arguments kept per tool call to check them at its end; a longer call is passed on
# unchecked (the client's own parser judges it).
MAX_CHECKED_ARGUMENTS = 1024 * 1024


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Chunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _Usage | None = None


def frame(event: StreamEvent | ErrorBody) -> bytes:
    data = msgspec.json.encode(event)
    kind = "error" if isinstance(event, ErrorBody) else type(event).__struct_config__.tag
    return f"event: {kind}\ndata: ".encode() + data + b"\n\n"


PING = frame(Ping())


def error_frame(kind: ErrorType, message: str) -> bytes:
    return frame(ErrorBody(error=ErrorDetail(type=kind, message=message)))


class StreamTranslator:
    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id
        self._next_index = 0
        self._open: Literal["text", "tool"] | None = None
        self._tool_index = -1  # the chat index of the open tool call
        self._tool_name = ""
        self._arguments: list[str] = []
        self._argument_chars = 0
        self._stop: StopReason | None = None
        self._usage = MessageUsage(input_tokens=0, output_tokens=0)

    @property
    def finished(self) -> bool:
        """Whether the chat stream's finish_reason arrived."""
        return self._stop is not None

    def start(self) -> bytes:
        """`message_start`: the message with no content yet (its input tokens come in
        `message_delta`, once the upstream has counted them)."""
        message = Message(
            id=self._id,
            model=self._model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=self._usage,
        )
        return frame(MessageStart(message=message))

    def chunk(self, data: bytes) -> list[bytes]:
        """The frames for one chat.completion.chunk; raises UpstreamProtocolError when a
        finished tool call's arguments are not a JSON object."""
        try:
            chunk = msgspec.json.decode(data, type=_Chunk)
        except msgspec.DecodeError as exc:
            raise UpstreamProtocolError(f"a stream chunk is not a chat chunk: {exc}") from None
        if chunk.usage is not None:
            self._usage = MessageUsage(
                input_tokens=chunk.usage.prompt_tokens,
                output_tokens=chunk.usage.completion_tokens,
            )
        out: list[bytes] = []
        for choice in (chunk.choices or ())[:1]:  # a Messages answer has one choice
            if self._stop is not None:
                break
            delta = choice.delta
            if delta is not None and delta.content:
                self._text(delta.content, out)
            if delta is not None:
                for call in delta.tool_calls or ():
                    self._tool(call, out)
            if choice.finish_reason:
                self._close(out)
                reason = stop_reason(choice.finish_reason)
                self._stop = "tool_use" if reason == "end_turn" and self._saw_tool else reason
        return out

    def end(self) -> list[bytes]:
        """`message_delta` (stop reason, usage) and `message_stop`; only once finished."""
        assert self._stop is not None
        delta = MessageDelta(delta=StopDelta(stop_reason=self._stop), usage=self._usage)
        return [frame(delta), frame(MessageStop())]

    @property
    def _saw_tool(self) -> bool:
        return self._tool_index >= 0

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open != "text":
            self._close(out)
            out.append(self._begin("text", TextOut(text="")))
        out.append(frame(ContentBlockDelta(index=self._next_index - 1, delta=TextDelta(text=text))))

    def _tool(self, call: _ToolCallDelta, out: list[bytes]) -> None:
        function = call.function or _Function()
        if self._open != "tool" or call.index != self._tool_index:
            self._close(out)
            self._tool_index = call.index
            self._tool_name = function.name or ""
            block = ToolUseOut(id=call.id or new_tool_use_id(), name=self._tool_name, input={})
            out.append(self._begin("tool", block))
        if function.arguments:
            self._keep(function.arguments)
            delta = InputJsonDelta(partial_json=function.arguments)
            out.append(frame(ContentBlockDelta(index=self._next_index - 1, delta=delta)))

    def _begin(self, kind: Literal["text", "tool"], block: TextOut | ToolUseOut) -> bytes:
        self._open = kind
        self._next_index += 1
        return frame(ContentBlockStart(index=self._next_index - 1, content_block=block))

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        if self._open == "tool":
            self._check_arguments()
        self._open = None
        out.append(frame(ContentBlockStop(index=self._next_index - 1)))

    def _keep(self, piece: str) -> None:
        self._argument_chars += len(piece)
        if self._argument_chars <= MAX_CHECKED_ARGUMENTS:
            self._arguments.append(piece)

    def _check_arguments(self) -> None:
        if self._argument_chars <= MAX_CHECKED_ARGUMENTS:
            tool_input("".join(self._arguments), self._tool_name)
        self._arguments, self._argument_chars = [], 0
