"""A chat stream becomes Responses stream events: one translator per stream.

Chat deltas arrive as text and tool-call fragments; the Responses stream wants output
items opened, filled and closed in order, each event numbered. A text delta opens a
message item; a tool call with a new index closes what is open and opens a
function_call item; the end closes everything and sends the full response."""

from __future__ import annotations

import msgspec

from engines import UpstreamProtocolError
from gateway.protocols.responses.answer import (
    ItemStatus,
    finished,
    new_id,
    response_shell,
    response_usage,
)
from gateway.protocols.responses.schemas import (
    ChatChunk,
    ChatToolCall,
    ChatUsage,
    ContentPartAdded,
    ContentPartDone,
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    FunctionCallItem,
    MessageItem,
    OutputItemAdded,
    OutputItemDone,
    OutputText,
    OutputTextDelta,
    OutputTextDone,
    ResponseCompleted,
    ResponseCreated,
    ResponseError,
    ResponseFailed,
    ResponseIncomplete,
    ResponseInProgress,
    ResponsesRequest,
)

_CHUNK = msgspec.json.Decoder(ChatChunk)
_ENCODER = msgspec.json.Encoder()


class ResponsesStream:
    """Feed it chat chunks; it returns the SSE frames of the events they make."""

    def __init__(self, request: ResponsesRequest) -> None:
        self.response = response_shell(request, new_id("resp"))
        self.sequence = 0
        self.message: MessageItem | None = None  # the open message item, if any
        self.text: list[str] = []
        self.call: FunctionCallItem | None = None  # the open function_call item, if any
        self.call_index: int | None = None  # its chat tool-call index
        self.arguments: list[str] = []
        self.finish_reason: str | None = None
        self.usage: ChatUsage | None = None

    def start(self) -> bytes:
        created = ResponseCreated(sequence_number=self._next(), response=self.response)
        frames = self._frame(created)
        progress = ResponseInProgress(sequence_number=self._next(), response=self.response)
        return frames + self._frame(progress)

    def feed(self, chunk_json: bytes) -> bytes:
        try:
            chunk = _CHUNK.decode(chunk_json)
        except msgspec.DecodeError as exc:  # checked upstream; a bug if it happens
            raise UpstreamProtocolError(f"a chat chunk ATLAS cannot translate: {exc}") from None
        if chunk.usage is not None:
            self.usage = chunk.usage
        frames = b""
        for choice in chunk.choices[:1]:  # Responses has one output; n is always 1 here
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    frames += self._text(delta.content)
                for call in delta.tool_calls or ():
                    frames += self._tool_call(call)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return frames

    def finish(self) -> bytes:
        """Close what is open and send the final response (completed or incomplete)."""
        frames = self._close_open()
        finished(self.response, self.finish_reason)
        self.response.usage = response_usage(self.usage)
        if self.response.status == "incomplete":
            event = ResponseIncomplete(sequence_number=self._next(), response=self.response)
            return frames + self._frame(event)
        done = ResponseCompleted(sequence_number=self._next(), response=self.response)
        return frames + self._frame(done)

    def fail(self, code: str, message: str) -> bytes:
        """The stream failed after it started: `response.failed`, and nothing after it."""
        self.response.status = "failed"
        self.response.error = ResponseError(code=code, message=message)
        self.response.usage = response_usage(self.usage)
        event = ResponseFailed(sequence_number=self._next(), response=self.response)
        return self._frame(event)

    def _text(self, delta: str) -> bytes:
        frames = b""
        if self.message is None:
            frames += self._close_call()
            frames += self._open_message()
        assert self.message is not None
        self.text.append(delta)
        event = OutputTextDelta(
            sequence_number=self._next(),
            item_id=self.message.id,
            output_index=self._index(),
            content_index=0,
            delta=delta,
        )
        return frames + self._frame(event)

    def _open_message(self) -> bytes:
        self.message = MessageItem(id=new_id("msg"), status="in_progress")
        self.response.output.append(self.message)
        added = OutputItemAdded(
            sequence_number=self._next(), output_index=self._index(), item=self.message
        )
        part = ContentPartAdded(
            sequence_number=self._next(),
            item_id=self.message.id,
            output_index=self._index(),
            content_index=0,
            part=OutputText(text=""),
        )
        return self._frame(added) + self._frame(part)

    def _tool_call(self, call: ChatToolCall) -> bytes:
        frames = b""
        if self.call is None or call.index != self.call_index:
            frames += self._close_open()
            function = call.function
            self.call = FunctionCallItem(
                id=new_id("fc"),
                status="in_progress",
                call_id=call.id or new_id("call"),
                name=(function.name if function else None) or "",
                arguments="",
            )
            self.call_index = call.index
            self.response.output.append(self.call)
            added = OutputItemAdded(
                sequence_number=self._next(), output_index=self._index(), item=self.call
            )
            frames += self._frame(added)
        elif call.function is not None and call.function.name and not self.call.name:
            self.call.name = call.function.name
        fragment = call.function.arguments if call.function else None
        if fragment:
            self.arguments.append(fragment)
            event = FunctionCallArgumentsDelta(
                sequence_number=self._next(),
                item_id=self.call.id,
                output_index=self._index(),
                delta=fragment,
            )
            frames += self._frame(event)
        return frames

    def _close_open(self) -> bytes:
        return self._close_message() + self._close_call()

    def _close_message(self) -> bytes:
        message = self.message
        if message is None:
            return b""
        self.message = None
        text = "".join(self.text)
        self.text = []
        part = OutputText(text=text)
        message.content = [part]
        message.status = self._item_status()
        index = self.response.output.index(message)
        text_done = OutputTextDone(
            sequence_number=self._next(),
            item_id=message.id,
            output_index=index,
            content_index=0,
            text=text,
        )
        part_done = ContentPartDone(
            sequence_number=self._next(),
            item_id=message.id,
            output_index=index,
            content_index=0,
            part=part,
        )
        item_done = OutputItemDone(sequence_number=self._next(), output_index=index, item=message)
        return self._frame(text_done) + self._frame(part_done) + self._frame(item_done)

    def _close_call(self) -> bytes:
        call = self.call
        if call is None:
            return b""
        self.call = None
        self.call_index = None
        call.arguments = "".join(self.arguments)
        self.arguments = []
        call.status = self._item_status()
        index = self.response.output.index(call)
        arguments_done = FunctionCallArgumentsDone(
            sequence_number=self._next(),
            item_id=call.id,
            output_index=index,
            name=call.name,
            arguments=call.arguments,
        )
        item_done = OutputItemDone(sequence_number=self._next(), output_index=index, item=call)
        return self._frame(arguments_done) + self._frame(item_done)

    def _item_status(self) -> ItemStatus:
        return "incomplete" if self.finish_reason == "length" else "completed"

    def _index(self) -> int:
        return len(self.response.output) - 1

    def _next(self) -> int:
        sequence = self.sequence
        self.sequence += 1
        return sequence

    def _frame(self, event: msgspec.Struct) -> bytes:
        name = type(event).__struct_config__.tag
        assert isinstance(name, str)
        return b"event: " + name.encode() + b"\ndata: " + _ENCODER.encode(event) + b"\n\n"
