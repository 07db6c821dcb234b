"""Reading server-sent events from an upstream stream, as the SSE specification says.

An event is the lines up to a blank line. Its `data:` lines are joined with "\\n" (a
multi-line event is one payload, never one line relayed per line), `event:`, `id:` and
`retry:` are read, comments and unknown fields are ignored, and an event still open
when the stream ends is dropped: it was cut. llama-server reports a failure as an
`error:` line, or as an event of type `error`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from engines.transport import RawStream

EventKind = Literal["data", "error"]


async def sse_events(stream: RawStream, upstream: str) -> AsyncIterator[tuple[EventKind, str]]:
    """Yield (kind, payload) for each complete event.

    `upstream` is kept for the call shape: the stream tags its own errors."""
    data: list[str] = []
    kind: EventKind = "data"
    async for line in stream.lines():
        if not line:
            if data:
                yield kind, data[0] if len(data) == 1 else "\n".join(data)
            data, kind = [], "data"
            continue
        if line[0] == ":":
            continue
        field, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "error":
            yield "error", value
        elif field == "event" and value == "error":
            kind = "error"
