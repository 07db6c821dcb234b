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
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar, Literal, cast

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config.settings import DEFAULT_WRITE_TIMEOUT_S

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


class HttpToolsWithWriteTimeout(HttpToolsProtocol):
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


class H11WithWriteTimeout(H11Protocol):
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


__all__ = ["H11WithWriteTimeout", "HttpToolsWithWriteTimeout", "WriteClock", "http_protocol"]
