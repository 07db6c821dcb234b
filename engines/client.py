"""The one shared HTTP client, and the single place httpx errors become domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from engines.errors import (
    EngineError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)


@dataclass(frozen=True, slots=True)
class ClientLimits:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    write_timeout_s: float = 30.0
    max_connections: int = 512
    max_keepalive: int = 128


def build_http_client(limits: ClientLimits) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=limits.connect_timeout_s,
        read=limits.read_timeout_s,
        write=limits.write_timeout_s,
        pool=limits.connect_timeout_s,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive,
            keepalive_expiry=30,
        ),
        # Upstreams are local servers: never route them through a proxy from the environment.
        trust_env=False,
        follow_redirects=False,
    )


@contextmanager
def translate_errors(upstream: str) -> Iterator[None]:
    """Turn httpx's exceptions into the engine's domain errors, tagged with the upstream."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise UpstreamUnavailableError(f"connect timeout: {exc}", upstream=upstream) from exc
    except httpx.ConnectError as exc:
        raise UpstreamUnavailableError(f"connect failed: {exc}", upstream=upstream) from exc
    except httpx.PoolTimeout as exc:
        raise UpstreamUnavailableError("connection pool exhausted", upstream=upstream) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(
            f"upstream timed out ({type(exc).__name__})", upstream=upstream
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamProtocolError(
            f"upstream connection failed: {type(exc).__name__}: {exc}", upstream=upstream
        ) from exc


async def iter_lines(response: httpx.Response, upstream: str) -> AsyncIterator[str]:
    iterator = response.aiter_lines().__aiter__()
    while True:
        with translate_errors(upstream):
            try:
                line = await iterator.__anext__()
            except StopAsyncIteration:
                return
        yield line


__all__ = [
    "ClientLimits",
    "EngineError",
    "build_http_client",
    "iter_lines",
    "translate_errors",
]
