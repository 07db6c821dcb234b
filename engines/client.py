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

from engines.errors import (
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from engines.transport import RawReply

if TYPE_CHECKING:
    from engines.transport import RawStream, UpstreamTransport


@dataclass(frozen=True, slots=True)
class ClientLimits:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    max_connections: int = 512
    keepalive_s: float = 30.0


class UpstreamClient:
    """An `UpstreamTransport` over one aiohttp session; opened inside the event loop,
    closed with the app."""

    def __init__(self, limits: ClientLimits) -> None:
        self.limits = limits
        self._session: aiohttp.ClientSession | None = None

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
            async with self.session.post(url, data=body, headers=headers) as response:
                # aiohttp's headers are case-insensitive already: passed on, not copied.
                return RawReply(response.status, response.headers, await response.read())

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> AiohttpStream:
        with translate_errors(upstream):
            response = await self.session.post(url, data=body, headers=headers)
        return AiohttpStream(response, upstream)

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

    __slots__ = ("_response", "_upstream", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, upstream: str) -> None:
        self._response = response
        self._upstream = upstream
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        with translate_errors(self._upstream):
            return await self._response.read()

    async def lines(self) -> AsyncIterator[str]:
        content = self._response.content
        while True:
            with translate_errors(self._upstream):
                line = await content.readline()
            if not line:
                return
            yield line.rstrip(b"\r\n").decode("utf-8", "replace")

    def close(self) -> None:
        self._response.close()


if TYPE_CHECKING:  # mypy proves that both fit the seam
    _transport: type[UpstreamTransport] = UpstreamClient
    _stream: type[RawStream] = AiohttpStream


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
    except ValueError as exc:  # aiohttp: a line longer than its buffer
        raise UpstreamProtocolError(f"malformed upstream stream: {exc}", upstream=upstream) from exc


__all__ = ["AiohttpStream", "ClientLimits", "UpstreamClient", "translate_errors"]
