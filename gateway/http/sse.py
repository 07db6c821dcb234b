"""Server-sent events framing of a strategy's event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from engines import EngineError
from gateway.http.errors import error_bytes, to_api_error
from gateway.strategies.base import Chunk, Comment, End, Event, Failure

DONE = b"data: [DONE]\n\n"


def error_event(error: EngineError) -> bytes:
    """An error after the headers went out: an error event, then [DONE]."""
    return b"data: " + error_bytes(to_api_error(error).detail) + b"\n\n" + DONE


async def sse_frames(
    events: AsyncIterator[Event], on_end: Callable[[End], None]
) -> AsyncIterator[bytes]:
    """SSE bytes of the events; `on_end` sees the End event before [DONE] goes out."""
    async for event in events:
        if isinstance(event, Chunk):
            yield b"data: " + event.data + b"\n\n"
        elif isinstance(event, Comment):
            yield b": " + event.text.encode() + b"\n\n"
        elif isinstance(event, End):
            on_end(event)
            yield DONE
            return
        elif isinstance(event, Failure):
            yield error_event(event.error)
            return
