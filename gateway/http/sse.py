"""Server-sent events framing of a strategy's event stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing

from engines import UpstreamProtocolError
from gateway.drain import Drain, DrainExpiredError
from gateway.http.errors import error_bytes, to_api_error
from gateway.strategies.base import Chunk, Comment, Done, Event, Failure, Report

DONE = b"data: [DONE]\n\n"


def error_event(error: Exception) -> bytes:
    """An error after the headers went out: an error event, then [DONE]."""
    return b"data: " + error_bytes(to_api_error(error).detail) + b"\n\n" + DONE


async def sse_frames(
    events: AsyncGenerator[Event, None],
    on_report: Callable[[Report], None],
    drain: Drain | None = None,
) -> AsyncGenerator[bytes, None]:
    """SSE bytes of the events; `on_report` gets the stream's Report (nothing is sent).
    A shutdown whose grace runs out ends the stream with an error event and [DONE]."""
    # Closed as soon as the stream ends, so the strategy's clean-up (cancelling the
    # other upstream readers) runs at once, not when the generator is collected.
    async with aclosing(events):
        try:
            async for event in _bounded(events, drain):
                if isinstance(event, Chunk):
                    yield b"data: " + event.data + b"\n\n"
                elif isinstance(event, Comment):
                    yield b": " + event.text.encode() + b"\n\n"
                elif isinstance(event, Report):
                    on_report(event)
                elif isinstance(event, Done):
                    yield DONE
                    return
                elif isinstance(event, Failure):
                    yield error_event(event.error)
                    return
        except DrainExpiredError as exc:
            yield error_event(exc)
            return
        except Exception as exc:  # a bug below: the client still gets an error and [DONE]
            yield error_event(exc)  # to_api_error logs it with its traceback
            return
    # Never a cut stream: a strategy that stopped without saying how is an error.
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
