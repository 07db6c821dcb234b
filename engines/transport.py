"""The seam between the dispatcher and the HTTP library: what an upstream transport does.

The dispatcher, the health checker and the SSE reader only speak these protocols, so
tests can swap in an in-memory transport and the HTTP client stays replaceable. The
aiohttp implementation is `engines.client.UpstreamClient`.

Every failure of a transport is one of the domain errors of `engines.errors`, tagged
with the upstream it came from; no HTTP library's exception crosses this line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RawReply:
    """A whole upstream answer, whatever its status."""

    status: int
    # Looked up by lower-case name; a transport may hand over a case-insensitive
    # mapping as it is rather than copy it.
    headers: Mapping[str, str]
    body: bytes


class RawStream(Protocol):
    """An upstream answer whose body is still arriving; its status and headers are known."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self) -> bytes:
        """The rest of the body (used for the body of an error status)."""
        ...

    def lines(self) -> AsyncIterator[str]:
        """The body's lines without their endings, decoded as UTF-8 with "replace"."""
        ...

    def close(self) -> None:
        """Synchronous, and safe to call twice: closing an unfinished answer drops the
        connection, which is how llama-server learns to stop generating."""
        ...


class UpstreamTransport(Protocol):
    """Sends requests to upstream servers; `upstream` tags the errors it raises."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawReply:
        """POST and read the whole answer."""
        ...

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawStream:
        """POST and return as soon as the status and headers arrived. The caller owns
        the stream and must `close()` it on every path."""
        ...

    async def get(self, url: str, timeout_s: float) -> int:
        """GET within `timeout_s`, drain the body and return the status (health checks)."""
        ...

    async def aclose(self) -> None: ...


__all__ = ["RawReply", "RawStream", "UpstreamTransport"]
