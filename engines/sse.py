"""Reading server-sent events from an upstream stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from engines.transport import RawStream

EventKind = Literal["data", "error"]


async def sse_events(stream: RawStream, upstream: str) -> AsyncIterator[tuple[EventKind, str]]:
    """Yield (kind, payload) for each event; llama-server reports failures as `error:` lines.

    `upstream` is kept for the call shape: the stream tags its own errors."""
    data: list[str] = []
    async for line in stream.lines():
        if not line:
            if data:
                yield "data", "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "error":
            yield "error", value
    if data:
        yield "data", "\n".join(data)
