"""CORS for browser-based clients, off unless `[server] cors_allow_origins` is set.

A plain ASGI wrapper outside routing (`http/outer.py`): a preflight (`OPTIONS` with
`Origin` and `Access-Control-Request-Method`) is answered here, 204 without an API key,
as browsers send none on it; every other answer to an allowed `Origin`, JSON, errors
and SSE streams alike, gets `Access-Control-Allow-Origin` and the headers a client
may read. A request without `Origin` (every non-browser client) costs one pass over
its header names. Credentials (cookies) are never allowed, so the admin session
cookie cannot ride a cross-origin request, and the admin API gets no CORS at all.
"""

from __future__ import annotations

import re

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = b"GET, HEAD, POST, OPTIONS"
# Sent when a preflight names no headers (or names them in a way not echoed).
ALLOW_HEADERS = (
    b"authorization, content-type, x-api-key, api-key, anthropic-version, anthropic-beta, "
    b"openai-beta, openai-organization, openai-project, x-request-id, x-atlas-k, "
    b"x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, "
    b"x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, "
    b"x-stainless-timeout, x-stainless-read-timeout, x-stainless-async, "
    b"x-stainless-helper-method, x-stainless-raw-response"
)
# What a page may read of an answer: the request id, the rate limits, how ATLAS
# answered (Expose-Headers takes names, not patterns; tests/unit/gateway/http/test_cors.py
# checks that every x-atlas-* header the gateway sends is here).
EXPOSE_HEADERS = (
    b"x-request-id, retry-after, x-ratelimit-limit-requests, x-ratelimit-limit-tokens, "
    b"x-ratelimit-remaining-requests, x-ratelimit-remaining-tokens, "
    b"x-ratelimit-reset-requests, x-ratelimit-reset-tokens, x-atlas-route, x-atlas-k, "
    b"x-atlas-difficulty, x-atlas-escalated, x-atlas-verified, x-atlas-candidates, "
    b"x-atlas-tests, x-atlas-selection, x-atlas-hints, "
    b"x-atlas-repaired, x-atlas-repair-rounds, x-atlas-winner-round, "
    b"x-atlas-total-prompt-tokens, x-atlas-total-completion-tokens, x-atlas-total-tokens"
)
MAX_AGE_S = b"600"
NO_CORS_PREFIX = "/admin"
# Header names, comma-separated; anything else in a preflight is answered with the list above.
_HEADER_LIST = re.compile(
    rb"[A-Za-z0-9!#$%&'*+.^_`|~\-]+(?:[ \t]*,[ \t]*[A-Za-z0-9!#$%&'*+.^_`|~\-]+)*"
)
_MAX_REQUESTED = 2048


def cors_middleware(app: ASGIApp, allowed: tuple[str, ...]) -> ASGIApp:
    """Wrap `app`; `allowed`: exact origins (`https://host[:port]`), or only `*`."""
    anyone = "*" in allowed
    origins = frozenset(origin.lower().encode("ascii") for origin in allowed)

    def allow_origin(origin: bytes | None) -> bytes | None:
        if origin is None:
            return None
        if anyone:
            return b"*"
        return origin if origin.lower() in origins else None

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NO_CORS_PREFIX):  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        origin = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
                break
        if origin is None:
            await app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _is_preflight(scope):  # type: ignore[typeddict-item]
            await _preflight(scope, send, origin, allow_origin(origin))
            return
        granted = allow_origin(origin)
        if granted is None:
            await app(scope, receive, send)
            return
        added = _answer_headers(granted)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        await app(scope, receive, send_with_cors)

    return wrapped


def _answer_headers(granted: bytes) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"access-control-allow-origin", granted),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
    ]
    if granted != b"*":
        headers.append((b"vary", b"Origin"))
    return headers


def _is_preflight(scope: Scope) -> bool:
    return any(name == b"access-control-request-method" for name, _ in scope["headers"])


async def _preflight(scope: Scope, send: Send, origin: bytes, granted: bytes | None) -> None:
    if granted is None:
        await _refuse(send, origin)
        return
    requested = b""
    for name, value in scope["headers"]:
        if name == b"access-control-request-headers":
            requested = value.strip()
    if not (len(requested) <= _MAX_REQUESTED and _HEADER_LIST.fullmatch(requested)):
        requested = ALLOW_HEADERS
    headers = [
        *_answer_headers(granted),
        (b"access-control-allow-methods", ALLOW_METHODS),
        (b"access-control-allow-headers", requested),
        (b"access-control-max-age", MAX_AGE_S),
    ]
    if granted != b"*":
        headers[-1:-1] = [(b"vary", b"Access-Control-Request-Headers")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _refuse(send: Send, origin: bytes) -> None:
    body = msgspec.json.encode(
        {
            "error": {
                "message": f"origin {origin.decode('latin-1')!r} is not in "
                "server.cors_allow_origins",
                "type": "invalid_request_error",
                "param": None,
                "code": "cors_origin_not_allowed",
            }
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
