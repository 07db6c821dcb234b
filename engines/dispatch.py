"""Send one request to a model's upstream group, with one failover before any byte is sent.

A request goes to the least loaded usable upstream. Connect errors, 5xx answers and an
upstream that stalls before the first byte of its answer move it once to another
upstream; 4xx answers go back to the caller untouched because another upstream would
refuse them too. Once an upstream has started answering, it answers: a stream whose
headers trickle in past `headers_timeout_s`, or that fails later, is an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from engines.errors import (
    EngineError,
    UpstreamProtocolError,
    UpstreamRejectedError,
    UpstreamStalledError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from engines.pool import Upstream, UpstreamPool
from engines.scheduler import ANONYMOUS, Asker
from engines.transport import RawStream, UpstreamTransport

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
PASSED_HEADERS = ("retry-after", "content-type")
DEFAULT_TOTAL_TIMEOUT_S = 900.0
DEFAULT_HEADERS_TIMEOUT_S = 150.0
# Failures after which nothing of the answer exists yet, so another upstream may try.
_RETRIED = (UpstreamUnavailableError, UpstreamProtocolError, UpstreamStalledError)


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    upstream: str
    status: int
    body: bytes
    content_type: str


# Called with (model, upstream label, role, outcome) after every attempt, for metrics:
# the label is a managed engine's name, else the URL (metrics keep only host:port).
Observer = Callable[[str, str, str, str], None]
# Called with (upstream URL, body) for every successful JSON reply and every stream
# event that carries llama-server's `timings` (speculative decoding telemetry).
ReplyObserver = Callable[[str, bytes], None]


def _outcome(exc: BaseException | None) -> str:
    match exc:
        case None:
            return "ok"
        case UpstreamRejectedError():
            return "rejected"
        case UpstreamTimeoutError():
            return "timeout"
        case UpstreamUnavailableError():
            return "unavailable"
    return "error"


class Dispatcher:
    def __init__(
        self,
        transport: UpstreamTransport,
        *,
        total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S,
        headers_timeout_s: float = DEFAULT_HEADERS_TIMEOUT_S,
        observer: Observer | None = None,
        reply_observer: ReplyObserver | None = None,
    ) -> None:
        self._transport = transport
        self._total_timeout_s = total_timeout_s
        self._headers_timeout_s = headers_timeout_s
        self._observer = observer
        self._reply_observer = reply_observer

    def observe_reply(self, upstream: str, body: bytes) -> None:
        if self._reply_observer is not None:
            self._reply_observer(upstream, body)

    def _observe(self, pool: UpstreamPool, upstream: Upstream, exc: BaseException | None) -> None:
        if self._observer is not None and not isinstance(exc, asyncio.CancelledError):
            self._observer(pool.model, upstream.label, pool.role, _outcome(exc))

    async def _first_success[T](
        self, pool: UpstreamPool, attempt: Callable[[Upstream], Awaitable[T]], asker: Asker
    ) -> tuple[Upstream, T]:
        """Try the least loaded upstream, and once more on another after a connect error,
        a 5xx or a stall before the first byte. On success its slot is still held: the
        caller releases it."""
        tried: list[Upstream] = []
        last_error: EngineError | None = None
        for _ in range(MAX_ATTEMPTS):
            if tried and not pool.usable(tried):
                break
            upstream = await pool.acquire(tried, asker)
            tried.append(upstream)
            try:
                result = await attempt(upstream)
            except _RETRIED as exc:
                pool.release(upstream, asker.key)
                self._observe(pool, upstream, exc)
                logger.warning("upstream %s failed: %s", upstream.url, exc.message)
                last_error = exc
                continue
            except BaseException as exc:
                pool.release(upstream, asker.key)
                self._observe(pool, upstream, exc)
                raise
            self._observe(pool, upstream, None)
            return upstream, result
        assert last_error is not None
        raise last_error

    async def post_json(
        self,
        pool: UpstreamPool,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        asker: Asker = ANONYMOUS,
    ) -> UpstreamReply:
        """`asker` says whose request it is and what for: the pool's fair queue orders
        the waiters by it when every slot is taken."""
        upstream, reply = await self._first_success(
            pool, lambda upstream: self._post_once(pool, upstream, path, body, headers), asker
        )
        pool.release(upstream, asker.key)
        self.observe_reply(upstream.url, reply.body)
        return reply

    async def _post_once(
        self,
        pool: UpstreamPool,
        upstream: Upstream,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> UpstreamReply:
        try:
            async with asyncio.timeout(self._total_timeout_s):
                reply = await self._transport.post(
                    upstream.url + path, body, headers, upstream=upstream.url
                )
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"no answer within {self._total_timeout_s:g} s", upstream=upstream.url
            ) from None
        except UpstreamUnavailableError as exc:
            pool.mark(upstream, False, exc.message)
            raise
        return _check_status(pool, upstream, reply.status, reply.body, reply.headers)

    @asynccontextmanager
    async def stream(
        self,
        pool: UpstreamPool,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        asker: Asker = ANONYMOUS,
    ) -> AsyncIterator[tuple[Upstream, RawStream]]:
        """Open a streaming request; failover happens only before the caller sees a byte."""
        upstream, stream = await self._first_success(
            pool, lambda upstream: self._open(pool, upstream, path, body, headers), asker
        )
        try:
            yield upstream, stream
        finally:
            pool.release(upstream, asker.key)
            # Synchronous: closing an unfinished response drops the connection,
            # so llama-server stops generating for a client that left.
            stream.close()

    async def _open(
        self,
        pool: UpstreamPool,
        upstream: Upstream,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> RawStream:
        try:
            # A total bound on the headers: an upstream that trickles them byte by byte
            # never trips a read timeout.
            async with asyncio.timeout(self._headers_timeout_s):
                stream = await self._transport.open_stream(
                    upstream.url + path, body, headers, upstream=upstream.url
                )
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"no complete headers within {self._headers_timeout_s:g} s", upstream=upstream.url
            ) from None
        except UpstreamUnavailableError as exc:
            pool.mark(upstream, False, exc.message)
            raise
        if stream.status >= 400:
            try:
                content = await stream.read()
            finally:
                stream.close()
            _check_status(pool, upstream, stream.status, content, stream.headers)
        return stream


def _check_status(
    pool: UpstreamPool,
    upstream: Upstream,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
) -> UpstreamReply:
    content_type = headers.get("content-type", "application/json")
    if status < 400:
        if upstream.healthy is not True:
            pool.mark(upstream, True)
        return UpstreamReply(upstream.url, status, content, content_type)
    if status < 500:
        passed = {k: headers[k] for k in PASSED_HEADERS if k in headers}
        raise UpstreamRejectedError(
            f"upstream refused the request with {status}",
            upstream=upstream.url,
            status=status,
            body=content,
            headers=passed,
        )
    if status == 503:
        # llama-server answers 503 while it loads a model: take it out of rotation.
        pool.mark(upstream, False, "503 from upstream")
    snippet = content[:200].decode("utf-8", "replace")
    raise UpstreamProtocolError(
        f"upstream answered {status}: {snippet}", upstream=upstream.url, status=status
    )
