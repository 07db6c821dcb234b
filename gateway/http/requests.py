"""Small steps shared by the API handlers: decode, check a token, watch the client."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Mapping
from functools import partial
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection

from gateway.http.errors import APIError, to_api_error
from gateway.protocols.integers import Integer

T = TypeVar("T")
MAX_N = 16
_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


class ClientDisconnectedError(Exception):
    """The client went away before its answer was ready."""


def decode_request[T](raw: bytes, schema: type[T]) -> T:
    if not raw:
        raise APIError(
            400, "the request body is empty; expected a JSON object", code="invalid_json"
        )
    if not raw.isascii():
        _check_utf8(raw)
    try:
        return _decoder(schema).decode(raw)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        param = match.group("path") if match and match.group("path") else None
        raise APIError(
            400, f"invalid request: {message}", param=param, code="invalid_value"
        ) from None
    except msgspec.DecodeError as exc:
        raise APIError(
            400, f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    except RecursionError as exc:
        raise to_api_error(exc) from None


_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


def _decoder[T](schema: type[T]) -> msgspec.json.Decoder[T]:
    decoder = _DECODERS.get(schema)
    if decoder is None:  # one per schema, built on its first request
        decoder = _DECODERS[schema] = msgspec.json.Decoder(schema, dec_hook=_integer)
    return decoder


def _integer(kind: type, value: Any) -> Any:
    # msgspec hands over the JSON value of every `Integer` field and checks that an
    # `Integer` comes back (an int everywhere after); the error it wraps names the
    # field: "Expected an integer, got 1.5 - at `$.max_tokens`".
    if kind is not Integer:
        raise NotImplementedError(kind)
    if type(value) is int:
        return Integer(value)
    if type(value) is float and value.is_integer():
        return Integer(value)
    shown = value if type(value) is float else type(value).__name__
    raise ValueError(f"Expected an integer, got {shown}")


def _check_utf8(raw: bytes) -> None:
    # msgspec does not check the strings it skips (fields ATLAS does not read), and the
    # raw body is what goes upstream: JSON that is not UTF-8 must stop here.
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(
            400,
            f"the request body is not valid JSON: invalid UTF-8 at byte {exc.start}",
            code="invalid_json",
        ) from None


def check_n(n: int | None) -> None:
    """n, if given (null is the default, 1), must be 1..MAX_N."""
    if n is not None and not 1 <= n <= MAX_N:
        raise APIError(
            400, f"n must be between 1 and {MAX_N}, got {n}", param="n", code="invalid_value"
        )


def bearer_tokens(*keys: str | None) -> tuple[bytes, ...]:
    """The `Authorization` values that present one of `keys` (those configured)."""
    return tuple(f"Bearer {key}".encode() for key in keys if key)


def presents_one_of(
    connection: ASGIConnection[Any, Any, Any, Any], accepted: tuple[bytes, ...]
) -> bool:
    """Whether the request carries one of the accepted values; True when none is set."""
    if not accepted:
        return True
    given = connection.headers.get("authorization", "").encode()
    # Every value compared, in constant time: which one matched is not timed either.
    return sum(hmac.compare_digest(given, value) for value in accepted) > 0


async def until_disconnect[T](request: Request[Any, Any, Any], work: Awaitable[T]) -> T:
    """Run `work`, cancelling it at once if the client disconnects (so upstream slots free up).

    The watcher cancels the work from a done-callback, so the handler simply awaits the
    work: no asyncio.wait per request (measured: about 6 us less per request at c=1, and
    more requests/s at c=32 than with the work run in the handler's own task)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    watcher.add_done_callback(partial(_cancel_on_disconnect, task))
    try:
        return await task
    except asyncio.CancelledError:
        if task.cancelled() and _disconnected(watcher):
            raise ClientDisconnectedError from None
        raise
    finally:
        watcher.cancel()


def _disconnected(watcher: asyncio.Task[None]) -> bool:
    return watcher.done() and not watcher.cancelled() and watcher.exception() is None


def _cancel_on_disconnect(work: asyncio.Future[Any], watcher: asyncio.Task[None]) -> None:
    if _disconnected(watcher):
        work.cancel()


async def _wait_for_disconnect(request: Request[Any, Any, Any]) -> None:
    # The body is already read, so the next ASGI message can only be the disconnect.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def json_response(content: bytes, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(content=content, media_type="application/json", headers=headers)


def sse_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"cache-control": "no-cache", "x-accel-buffering": "no", **(extra or {})}
