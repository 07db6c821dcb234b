"""Limits of the HTTP server, below ASGI: how long a request may take to arrive and how
large its head may be.

uvicorn's httptools protocol has neither: no limit on the size or number of headers
(httptools buffers a header of any length) and no timer until the first response, so
a client that opens a connection and sends a byte a second holds it forever
(slowloris); `timeout_keep_alive` covers only idle connections between requests. This
protocol adds, per request: the line and headers within `header_timeout_s` of the
request's first byte (of the connection opening, for the first one), else 408 and
close; at most `max_header_bytes` and `max_headers`, else 431 and close; the body
within `body_timeout_s` after the headers, else the connection closes (the handler
sees the client leave). h11 enforces a header size limit of its own but is slower;
the gateway keeps httptools.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config import ServerSettings
from gateway.http.errors import ErrorDetail, error_bytes


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config/uvicorn.run that enforce the server limits."""

    class Protocol(LimitedHttpProtocol):
        limits = server

    return {"http": Protocol, "timeout_keep_alive": server.idle_timeout_s}


def _refusal(status: int, phrase: str, message: str, code: str) -> bytes:
    body = error_bytes(ErrorDetail(message=message, type="invalid_request_error", code=code))
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
    """Raised inside httptools' callbacks to stop the parser."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request head."""

    limits: ClassVar[ServerSettings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_bytes = 0  # bytes received since the head began (it may be incomplete)
        self._head_size = 0  # bytes of the URL and headers parsed so far
        self._headers = 0
        self._too_large = False

    # --- the deadline ----------------------------------------------------------------
    def _arm(self, seconds: float, expired: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _start_head(self) -> None:
        self._in_head, self._head_bytes, self._head_size, self._headers = True, 0, 0, 0
        self._arm(self.limits.header_timeout_s, self._head_too_slow)

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            if self._idle():  # no earlier response is being written on this connection
                self.transport.write(response)
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._deadline = None
        self._refuse(HEAD_TOO_SLOW)

    def _body_too_slow(self) -> None:
        self._deadline = None
        self.transport.close()  # the handler's receive() then reports a disconnect

    # --- uvicorn's protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and not self._in_head and self._idle():
            self._start_head()  # the first byte of the next request on a kept-alive connection
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:
            self._start_head()  # a pipelined request

    def _count(self, size: int, headers: int = 0) -> None:
        self._head_size += size
        self._headers += headers
        if (
            self._head_size > self.limits.max_header_bytes
            or self._headers > self.limits.max_headers
        ):
            self._too_large = True
            raise _HeadTooLarge  # httptools stops; uvicorn calls send_400_response

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, headers=1)  # "name: value\r\n"
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
        if not self.pipeline:  # a queued request reads its body only once it runs
            self._arm(self.limits.body_timeout_s, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse(HEAD_TOO_LARGE)
        else:
            super().send_400_response(msg)
