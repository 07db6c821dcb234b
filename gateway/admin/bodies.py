"""Reading a request: its JSON body, strictly, and its query string, against a fixed set
of names. Every mistake is a 400 that says what was wrong, never a 500."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import msgspec
from litestar import Request

from gateway.admin.errors import AdminError, bad_request

MAX_BODY_BYTES = 64 * 1024  # names, passwords, limits: nothing here is large


async def read_body[T](request: Request[Any, Any, Any], schema: type[T]) -> T:
    # A JSON content type keeps cross-site HTML forms out: they cannot send one without
    # a CORS preflight, which this API never answers.
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise AdminError(415, "send the body as application/json", code="unsupported_media_type")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise AdminError(413, "request body too large", code="request_too_large")
    if not raw:
        raise bad_request("the request body is empty; expected a JSON object")
    try:
        return msgspec.json.decode(raw, type=schema, strict=True)
    except msgspec.ValidationError as exc:
        raise bad_request(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("the request body is nested too deeply") from None


def query_params(request: Request[Any, Any, Any], allowed: Collection[str]) -> dict[str, str]:
    """The query's parameters, each given at most once and all of them known."""
    return known_once(request.query_params.multi_items(), allowed, "query parameter")


def known_once(
    pairs: Iterable[tuple[str, str]], allowed: Collection[str], kind: str
) -> dict[str, str]:
    """Name/value pairs as a dict: every name known and given at most once, else a 400."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise bad_request(f"unknown {kind} {name!r}", param=name)
        if name in found:
            raise bad_request(f"{kind} {name!r} given twice", param=name)
        found[name] = value
    return found
