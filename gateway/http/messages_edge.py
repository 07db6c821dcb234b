"""The Messages API edge: a chat answer leaves as an Anthropic message, a chat stream as
Messages stream events.

The stream's loop is `sse.sse_frames` (it never cuts a stream); this framer ends a
failed one with one `event: error` frame (no `[DONE]`: the Messages API has none)."""

from __future__ import annotations

from engines import UpstreamProtocolError
from gateway.http.errors import APIError, anthropic_type, to_api_error
from gateway.http.sse import Framer
from gateway.protocols.messages.answer import message_body
from gateway.protocols.messages.stream import PING, StreamTranslator, error_frame


def error_event(error: APIError) -> bytes:
    return error_frame(anthropic_type(error.status), error.detail.message)


class MessagesFramer:
    def __init__(self, translator: StreamTranslator) -> None:
        self.translator = translator

    def start(self) -> bytes:
        return self.translator.start()

    def chunk(self, data: bytes) -> bytes:
        return b"".join(self.translator.chunk(data))

    def comment(self, text: str) -> bytes:
        return PING  # Anthropic's own keep-alive event

    def done(self) -> bytes:
        if not self.translator.finished:  # [DONE] without a finish_reason: a cut answer
            cut = UpstreamProtocolError("the answer stream ended before it was complete")
            return error_event(to_api_error(cut))
        return b"".join(self.translator.end())

    def failure(self, error: APIError) -> bytes:
        return error_event(error)


class MessagesEdge:
    """One request's edge: its answer carries the model name the client asked for."""

    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id

    def answer_body(self, chat_answer: bytes) -> bytes:
        return message_body(chat_answer, model=self._model, message_id=self._id)

    def framer(self) -> Framer:
        return MessagesFramer(StreamTranslator(model=self._model, message_id=self._id))
