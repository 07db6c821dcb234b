"""What happens before litestar routes a request: HEAD served by GET's route, and CORS.

Litestar resolves the route and method before its own middleware runs (a HEAD on a
GET-only route is a 405 there), so these wrap the app's ASGI handler itself
(`Litestar.asgi_handler`, where litestar puts its own CORS middleware).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from config import ServerSettings
from gateway.http.cors import cors_middleware


def outside_routing(app: ASGIApp, server: ServerSettings) -> ASGIApp:
    app = head_as_get(app)
    if server.cors_allow_origins:  # off by default: no CORS header at all
        app = cors_middleware(app, server.cors_allow_origins)
    return app


def head_as_get(app: ASGIApp) -> ASGIApp:
    """HEAD wherever GET exists: a HEAD request is served as a GET whose body is not
    sent (its headers, content-length included, are). Other methods pass untouched."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "HEAD":
            await app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET"}, receive, headers_only)  # type: ignore[arg-type]

    return wrapped
