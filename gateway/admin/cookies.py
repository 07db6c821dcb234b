"""The session cookie: which name and attributes a request gets.

Over https (or any host that is not loopback) the cookie is `__Host-atlas_session`:
Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, so no sibling host can set or read
it. A browser drops a Secure cookie sent over plain http, so a gateway reached at
http://127.0.0.1 or http://localhost from the same machine gets `atlas_session`, the same
attributes without Secure (the `__Host-` prefix requires Secure, hence the other name).
Each mode reads only its own name, so a cookie set over http never stands in for the
https one. The scheme is the connection's: uvicorn rewrites it from X-Forwarded-Proto
only for the peers in `[server] trusted_proxies` (gateway/serving.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.connection import ASGIConnection

SECURE_NAME = "__Host-atlas_session"
LOOPBACK_NAME = "atlas_session"


@dataclass(frozen=True, slots=True)
class CookieMode:
    name: str
    secure: bool


SECURE = CookieMode(SECURE_NAME, secure=True)
LOOPBACK_HTTP = CookieMode(LOOPBACK_NAME, secure=False)


def cookie_mode(request: ASGIConnection[Any, Any, Any, Any]) -> CookieMode:
    """Plain http between two loopback ends (by Host and by peer): no Secure; else Secure."""
    if request.scope.get("scheme") != "http":
        return SECURE
    client = request.scope.get("client")
    peer = client[0] if client else None
    host = _host_name(request.headers.get("host", ""))
    return LOOPBACK_HTTP if _is_loopback(host) and _is_loopback(peer) else SECURE


def session_token(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return request.cookies.get(cookie_mode(request).name) or None


def set_session_cookie(
    request: ASGIConnection[Any, Any, Any, Any], response: Response[Any], token: str, max_age_s: int
) -> None:
    mode = cookie_mode(request)
    response.set_cookie(
        mode.name,
        token,
        max_age=max_age_s,
        path="/",
        secure=mode.secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(
    request: ASGIConnection[Any, Any, Any, Any], response: Response[Any]
) -> None:
    mode = cookie_mode(request)
    response.set_cookie(
        mode.name, "", max_age=0, path="/", secure=mode.secure, httponly=True, samesite="strict"
    )


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(name: str | None) -> bool:
    if not name:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
