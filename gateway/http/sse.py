"""Server-sent events framing of a strategy's event stream, in any wire protocol.

One loop for every protocol (it owns the report, the drain and never-a-cut-stream);
a `Framer` says how chunks, the end and a failure look in the request's protocol."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Protocol

from engines import UpstreamProtocolError
from gateway.drain import Drain, DrainExpiredError
from gateway.http.errors import APIError, error_bytes, to_api_error
from gateway.strategies.base import Chunk, Comment, Done, Event, Failure, Report

DONE = b"data: [DONE]\n\n"


class Framer(Protocol):
    def start(self) -> bytes:
        """Bytes before the first event (b"" for chat)."""
        ...

    def chunk(self, data: bytes) -> bytes:
        """The frames for one chat.completion.chunk JSON payload."""
        ...

    def comment(self, text: str) -> bytes:
        """A keep-alive or progress note (an SSE comment, or the protocol's ping)."""
        ...

    def done(self) -> bytes:
        """The stream's end after its last chunk."""
        ...

    def failure(self, error: APIError) -> bytes:
        """An error after the headers went out: the stream's last bytes."""
        ...


class ChatFramer:
    """Chat completions as they are: `data:` lines, an error event, then [DONE]."""

    def start(self) -> bytes:
        return b""

    def chunk(self, data: bytes) -> bytes:
        return b"data: " + data + b"\n\n"

    def comment(self, text: str) -> bytes:
        return sse_comment(text)

    def done(self) -> bytes:
        return DONE

    def failure(self, error: APIError) -> bytes:
        return b"data: " + error_bytes(error.detail) + b"\n\n" + DONE


CHAT_FRAMER = ChatFramer()


def sse_comment(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


async def sse_frames(
    events: AsyncGenerator[Event, None],
    on_report: Callable[[Report], None],
    drain: Drain | None = None,
    framer: Framer = CHAT_FRAMER,
) -> AsyncGenerator[bytes, None]:
    """SSE bytes of the events; `on_report` gets the stream's Report (nothing is sent).
    A shutdown whose grace runs out ends the stream with the framer's failure."""
    # Closed as soon as the stream ends, so the strategy's clean-up (cancelling the
    # other upstream readers) runs at once, not when the generator is collected.
    async with aclosing(events):
        try:
            start = framer.start()
            if start:
                yield start
            async for event in _bounded(events, drain):
                if isinstance(event, Chunk):
                    frames = framer.chunk(event.data)
                    if frames:
                        yield frames
                elif isinstance(event, Comment):
                    yield framer.comment(event.text)
                elif isinstance(event, Report):
                    on_report(event)
                elif isinstance(event, Done):
                    yield framer.done()
                    return
                elif isinstance(event, Failure):
                    yield framer.failure(to_api_error(event.error))
                    return
        except DrainExpiredError as exc:
            yield framer.failure(to_api_error(exc))
            return
        except Exception as exc:  # a bug below: the client still gets an error event
            yield framer.failure(to_api_error(exc))  # to_api_error logs its traceback
            return
    # Never a cut stream: a strategy that stopped without saying how is an error.
    cut = UpstreamProtocolError("the answer stream ended before it was complete")
    yield framer.failure(to_api_error(cut))


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
