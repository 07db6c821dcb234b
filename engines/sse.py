"""Reading server-sent events from an upstream response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import aiohttp

from engines.client import iter_lines

EventKind = Literal["data", "error"]


async def sse_events(
    response: aiohttp.ClientResponse, upstream: str
) -> AsyncIterator[tuple[EventKind, str]]:
    """Yield (kind, payload) for each event; llama-server reports failures as `error:` lines."""
    data: list[str] = []
    async for line in iter_lines(response, upstream):
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
