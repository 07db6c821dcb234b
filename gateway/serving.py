"""uvicorn's HTTP protocols with the one deadline uvicorn lacks: a write timeout.

uvicorn writes an answer as fast as the client reads it. When a client stops reading,
the socket buffers fill, the transport pauses writing, and the answer waits in ASGI
`send` for ever, holding its stream, its upstream slot and every buffer on the way
(measured: 200 such clients took the gateway from 69 MB to 962 MB, for good). Here a
clock starts when the transport pauses writing; if writing has not resumed within
`write_timeout_s`, the connection is aborted. uvicorn then reports a disconnect, which
cancels the answer as for any client that left: its upstream calls are cancelled and
their slots freed. A client that reads slowly but reads is never paused that long.

`cli.py` serves with it, and so does `gateway.testing.serve_in_thread`.

Nor does uvicorn bound how a request arrives: its httptools protocol has no limit on the
size or number of headers (httptools buffers a header of any length) and no timer until
the first response, so a client that opens a connection and sends a byte a second
holds it for ever (slowloris); `timeout_keep_alive` covers only idle connections
between requests. `HttpToolsWithLimits` adds, per request: the line and headers within
`server.header_timeout_s` (from the connection opening for the first request, from the
first chunk of a later one that leaves its head incomplete), else 408 and close; at
most `max_header_bytes` and `max_headers`, else 431 and close; the body within
`body_timeout_s` after the headers, else the connection closes (the handler sees the
client leave). `server_options(settings.server)` is what `atlas serve` runs with. It
leans on uvicorn's internals (`cycle`, `headers`, `url`, `pipeline`):
tests/integration/test_server_limits.py tells when an upgrade breaks it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
from types import FrameType
from typing import Any, ClassVar, Literal, cast

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config.settings import DEFAULT_WRITE_TIMEOUT_S, ServerSettings
from gateway.drain import END_MARGIN_S, Drain

logger = logging.getLogger(__name__)

HttpImpl = Literal["httptools", "h11"]


class WriteClock:
    """Aborts a transport whose writing stays paused past the deadline."""

    __slots__ = ("_handle", "_timeout_s", "_transport")

    def __init__(self, transport: asyncio.BaseTransport, timeout_s: float) -> None:
        self._transport = transport
        self._timeout_s = timeout_s
        self._handle: asyncio.TimerHandle | None = None

    def paused(self) -> None:
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self._timeout_s, self._expire)

    def resumed(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        peer = self._transport.get_extra_info("peername")
        logger.warning(
            "dropped client %s: it read nothing of its answer for %g s (server.write_timeout_s)",
            peer,
            self._timeout_s,
        )
        abort = getattr(self._transport, "abort", None)
        if abort is not None:
            abort()
        else:
            self._transport.close()


class _WriteTimeout(asyncio.Protocol):
    """The write clock on any uvicorn HTTP protocol: put it first among the bases."""

    write_timeout_s: ClassVar[float] = DEFAULT_WRITE_TIMEOUT_S
    _clock: WriteClock

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._clock = WriteClock(transport, self.write_timeout_s)
        super().connection_made(transport)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._clock.paused()

    def resume_writing(self) -> None:
        self._clock.resumed()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._clock.resumed()
        super().connection_lost(exc)


class HttpToolsWithWriteTimeout(_WriteTimeout, HttpToolsProtocol):
    pass


class H11WithWriteTimeout(_WriteTimeout, H11Protocol):
    pass


def _refusal(status: int, phrase: str, message: str, code: str) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


HEAD_TOO_LARGE = _refusal(
    431,
    "Request Header Fields Too Large",
    "the request's headers are too large or too many (server.max_header_bytes, server.max_headers)",
    "request_header_too_large",
)
HEAD_TOO_SLOW = _refusal(
    408,
    "Request Timeout",
    "the request's headers did not arrive in time (server.header_timeout_s)",
    "request_timeout",
)


class _HeadTooLarge(Exception):
    """Raised inside httptools' callback to stop the parser."""


class HttpToolsWithLimits(HttpToolsWithWriteTimeout):
    """The httptools protocol with its write timeout, and a deadline and a size limit on
    each request's head (and a deadline on its body).

    Cheap for ordinary traffic (measured: about 2 us a request): a request whose head
    and body arrive in the chunk that starts it sets no timer and sums no header sizes;
    only a request still incomplete after a chunk gets a deadline (counted from then),
    and only a head over max_header_bytes in raw bytes has its headers measured."""

    limits: ClassVar[ServerSettings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_bytes = 0  # bytes received since the head began (the body's first ones too)
        self._measure = False  # a pipelined head: its first bytes were not counted
        self._awaiting_body = False
        self._too_large = False

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:  # nothing else is writing
                self.transport.write(response)
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._deadline = None
        self._refuse(HEAD_TOO_SLOW)

    def _body_too_slow(self) -> None:
        self._deadline = None
        self.transport.close()  # the handler's receive() then reports a disconnect

    def _head_too_large(self) -> bool:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            return True
        if self._head_bytes <= limits.max_header_bytes and not self._measure:
            return False  # the head is within what arrived
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        return size > limits.max_header_bytes

    # --- uvicorn's protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True  # a connection that never sends a byte is closed too
        self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head and self._deadline is None:
            cycle = self.cycle
            if cycle is None or cycle.response_complete:  # the next request, kept alive
                self._in_head, self._head_bytes = True, 0
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(HEAD_TOO_LARGE)
            elif self._deadline is None and not self.transport.is_closing():
                timeout = self.limits.header_timeout_s
                self._deadline = self.loop.call_later(timeout, self._head_too_slow)
        elif self._awaiting_body and self._deadline is None and not self.transport.is_closing():
            timeout = self.limits.body_timeout_s
            self._deadline = self.loop.call_later(timeout, self._body_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # a pipelined request, begun inside a chunk
            self._in_head, self._head_bytes, self._measure = True, 0, True

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._deadline is not None:
            self._disarm()
        if self._head_too_large():
            self._too_large = True
            raise _HeadTooLarge  # httptools stops; uvicorn calls send_400_response
        self._measure = False
        super().on_headers_complete()
        self._awaiting_body = not self.pipeline  # a queued request reads once it runs

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        if self._deadline is not None:
            self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse(HEAD_TOO_LARGE)
        else:
            super().send_400_response(msg)


def server_options(server: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config/uvicorn.run: httptools with the write timeout
    and the read limits of `server`, and its idle keep-alive timeout."""
    name = f"HttpToolsWithLimits_{server.write_timeout_s:g}s"
    attributes = {"write_timeout_s": server.write_timeout_s, "limits": server}
    protocol = type(name, (HttpToolsWithLimits,), attributes)
    return {
        "http": protocol,
        "timeout_keep_alive": server.idle_timeout_s,
        # uvicorn believes X-Forwarded-* from 127.0.0.1 by default; only configured peers here.
        "proxy_headers": bool(server.trusted_proxies),
        "forwarded_allow_ips": list(server.trusted_proxies) or None,
    }


_IMPLS: dict[str, type[asyncio.Protocol]] = {
    "httptools": HttpToolsWithWriteTimeout,
    "h11": H11WithWriteTimeout,
}


def http_protocol(
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S, http: HttpImpl = "httptools"
) -> type[asyncio.Protocol]:
    """The protocol class to pass as uvicorn's `http`, with this write timeout."""
    base = _IMPLS[http]
    name = f"{base.__name__}_{write_timeout_s:g}s"
    return cast(type[asyncio.Protocol], type(name, (base,), {"write_timeout_s": write_timeout_s}))


class DrainingServer(uvicorn.Server):
    """uvicorn's server, beginning `drain` when it shuts down (SIGTERM, SIGINT): it stops
    accepting connections, the answers in flight get `drain.grace_s` to finish and are
    then cut with a proper end; uvicorn cancels what is left `END_MARGIN_S` later."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        config.timeout_graceful_shutdown = math.ceil(drain.grace_s + END_MARGIN_S)
        super().__init__(config)
        self.drain = drain

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        self.drain.begin()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn raises the signals it caught again once it has shut down, so the
        # process would die of the SIGTERM it drained for; a drained SIGTERM exits 0.
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


__all__ = [
    "DrainingServer",
    "H11WithWriteTimeout",
    "HttpToolsWithLimits",
    "HttpToolsWithWriteTimeout",
    "WriteClock",
    "http_protocol",
    "server_options",
]
