"""The aiohttp transport to upstreams, and the single place its errors become domain errors.

aiohttp rather than httpx on this path: measured here against the same scripted
upstream, httpx 0.28 managed about 950 requests/s at concurrency 32 and aiohttp
about 9,200 (docs/benchmarks.md), and the gateway's overhead is the product.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from engines.errors import (
    UpstreamProtocolError,
    UpstreamStalledError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from engines.transport import RawReply

if TYPE_CHECKING:
    from engines.transport import RawStream, UpstreamTransport

# A server-sent event line longer than this is an error, not a reason to buffer more.
MAX_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ClientLimits:
    connect_timeout_s: float = 5.0
    # JSON answers: the longest silence, before the first byte or inside the body.
    read_timeout_s: float = 300.0
    # Streams: the longest wait for the answer's first byte (a stall there moves the
    # request to another upstream), then the longest silence between two chunks.
    stream_first_byte_timeout_s: float = 120.0
    stream_idle_timeout_s: float = 300.0
    max_connections: int = 512
    keepalive_s: float = 30.0
    max_line_bytes: int = MAX_LINE_BYTES


class UpstreamClient:
    """An `UpstreamTransport` over one aiohttp session; opened inside the event loop,
    closed with the app."""

    def __init__(self, limits: ClientLimits) -> None:
        self.limits = limits
        self._session: aiohttp.ClientSession | None = None
        # Until the first byte; the idle timeout takes over once the headers are in.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=limits.connect_timeout_s,
            sock_read=limits.stream_first_byte_timeout_s,
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections,
                limit_per_host=0,
                keepalive_timeout=self.limits.keepalive_s,
                use_dns_cache=True,
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.limits.connect_timeout_s,
                sock_read=self.limits.read_timeout_s,
            )
            # Upstreams are local servers: never route them through a proxy from
            # the environment, and never decompress on their behalf.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawReply:
        with translate_errors(upstream):
            with _stalled(upstream, self.limits.read_timeout_s):
                response = await self.session.post(url, data=body, headers=headers)
            async with response:
                # aiohttp's headers are case-insensitive already: passed on, not copied.
                return RawReply(response.status, response.headers, await response.read())

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> AiohttpStream:
        first_byte_s = self.limits.stream_first_byte_timeout_s
        with translate_errors(upstream), _stalled(upstream, first_byte_s):
            response = await self.session.post(
                url, data=body, headers=headers, timeout=self._stream_timeout
            )
        _set_read_timeout(response, self.limits.stream_idle_timeout_s)
        return AiohttpStream(response, upstream, self.limits.max_line_bytes)

    async def get(self, url: str, timeout_s: float) -> int:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            with translate_errors(url):
                async with self.session.get(url, timeout=timeout) as response:
                    await response.read()
                    return response.status
        except TimeoutError as exc:  # the total timeout, which aiohttp raises bare
            raise UpstreamTimeoutError(f"no answer within {timeout_s:g} s", upstream=url) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AiohttpStream:
    """A `RawStream` over an aiohttp response whose body is still arriving."""

    __slots__ = ("_max_line", "_response", "_upstream", "headers", "status")

    def __init__(
        self, response: aiohttp.ClientResponse, upstream: str, max_line: int = MAX_LINE_BYTES
    ) -> None:
        self._response = response
        self._upstream = upstream
        self._max_line = max_line
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        with translate_errors(self._upstream):
            return await self._response.read()

    async def lines(self) -> AsyncIterator[str]:
        content = self._response.content
        while True:
            with translate_errors(self._upstream):
                line = await content.readline(max_line_length=self._max_line)
            if not line:
                return
            yield line.rstrip(b"\r\n").decode("utf-8", "replace")

    def close(self) -> None:
        self._response.close()


if TYPE_CHECKING:  # mypy proves that both fit the seam
    _transport: type[UpstreamTransport] = UpstreamClient
    _stream: type[RawStream] = AiohttpStream


@contextmanager
def _stalled(upstream: str, timeout_s: float) -> Iterator[None]:
    """A read timeout before the status line: the upstream sent nothing at all."""
    try:
        yield
    except aiohttp.SocketTimeoutError as exc:
        raise UpstreamStalledError(
            f"no byte of the answer within {timeout_s:g} s", upstream=upstream
        ) from exc


def _set_read_timeout(response: aiohttp.ClientResponse, timeout_s: float) -> None:
    """From the first byte of a stream on, its silences are bounded by the idle timeout."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    # aiohttp's ResponseHandler, whose read timeout is re-armed on every chunk; should a
    # later aiohttp lose these, the first-byte timeout simply stays in force.
    if protocol is not None and hasattr(protocol, "read_timeout"):
        protocol.read_timeout = timeout_s
        restart = getattr(protocol, "start_timeout", None)
        if restart is not None:
            restart()


@contextmanager
def translate_errors(upstream: str) -> Iterator[None]:
    """Turn aiohttp's exceptions into the engine's domain errors, tagged with the upstream."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise UpstreamUnavailableError(f"connect timeout: {exc}", upstream=upstream) from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamUnavailableError(
            f"connect failed: {exc.strerror}", upstream=upstream
        ) from exc
    except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeoutError(
            "upstream stopped answering (read timeout)", upstream=upstream
        ) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamProtocolError(
            f"upstream connection failed: {type(exc).__name__}: {exc}", upstream=upstream
        ) from exc
    except HttpProcessingError as exc:  # LineTooLong, bad framing
        raise UpstreamProtocolError(
            f"malformed upstream answer: {type(exc).__name__}: {exc.message}", upstream=upstream
        ) from exc
    except TimeoutError:  # a deadline of the caller's (aiohttp's total timeout): theirs to name
        raise
    except (ValueError, OSError) as exc:  # a line longer than the buffer, a reset socket
        raise UpstreamProtocolError(
            f"malformed upstream stream: {type(exc).__name__}: {exc}", upstream=upstream
        ) from exc


__all__ = ["AiohttpStream", "ClientLimits", "UpstreamClient", "translate_errors"]
