"""The Messages API edge: a chat answer leaves as an Anthropic message, a chat stream as
Messages stream events.

Like `sse.py`, the framer never cuts a stream: a Failure, a strategy that stops without
its finish, a shutdown whose grace runs out, or a bug below all end the stream with one
`event: error` frame (no `[DONE]`: the Messages API has none)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing

from engines import EngineError, UpstreamProtocolError
from gateway.drain import Drain, DrainExpiredError
from gateway.http.errors import anthropic_type, to_api_error
from gateway.protocols.messages.answer import message_body
from gateway.protocols.messages.stream import PING, StreamTranslator, error_frame
from gateway.strategies.base import Chunk, Comment, Done, Event, Failure, Report


def error_event(error: BaseException) -> bytes:
    api_error = to_api_error(error)
    return error_frame(anthropic_type(api_error.status), api_error.detail.message)


class MessagesEdge:
    """One request's edge: its answer carries the model name the client asked for."""

    def __init__(self, *, model: str, message_id: str) -> None:
        self._model = model
        self._id = message_id

    def answer_body(self, chat_answer: bytes) -> bytes:
        return message_body(chat_answer, model=self._model, message_id=self._id)

    def frames(
        self,
        events: AsyncGenerator[Event, None],
        on_report: Callable[[Report], None],
        drain: Drain | None,
    ) -> AsyncGenerator[bytes, None]:
        translator = StreamTranslator(model=self._model, message_id=self._id)
        return message_frames(events, translator, on_report, drain)


async def message_frames(
    events: AsyncGenerator[Event, None],
    translator: StreamTranslator,
    on_report: Callable[[Report], None],
    drain: Drain | None = None,
) -> AsyncGenerator[bytes, None]:
    """Messages SSE bytes of the events; `on_report` gets the stream's Report."""
    # Closed as soon as the stream ends, so the strategy's clean-up runs at once.
    async with aclosing(events):
        yield translator.start()
        try:
            async for event in _bounded(events, drain):
                if isinstance(event, Chunk):
                    for data in translator.chunk(event.data):
                        yield data
                elif isinstance(event, Comment):
                    yield PING
                elif isinstance(event, Report):
                    on_report(event)
                elif isinstance(event, Done):
                    if not translator.finished:
                        break  # [DONE] without a finish_reason: a cut answer
                    for data in translator.end():
                        yield data
                    return
                elif isinstance(event, Failure):
                    yield error_event(event.error)
                    return
        except (DrainExpiredError, EngineError) as exc:
            yield error_event(exc)
            return
        except Exception as exc:  # a bug below: the client still gets an error event
            yield error_event(exc)  # to_api_error logs it with its traceback
            return
    yield error_event(UpstreamProtocolError("the answer stream ended before it was complete"))


async def _bounded(
    events: AsyncGenerator[Event, None], drain: Drain | None
) -> AsyncIterator[Event]:
    if drain is None:
        async for event in events:
            yield event
        return
    with drain.bounded():
        async for event in events:
            yield event
