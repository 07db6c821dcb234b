"""Who is calling: a session cookie (with CSRF on state changes) or the master key.

One guard on the admin router authenticates every route unless the route says
`opt={"public": True}` (login, registration, the OpenAPI document), so a new route is
closed by default. The guard leaves a `Caller` in the request's state for the handler.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.accounts.access import Principal, principal_of
from gateway.accounts.schema import User
from gateway.accounts.sessions import SessionClaims, SessionRejected, csrf_matches
from gateway.admin.cookies import session_token
from gateway.admin.errors import AdminError, forbidden, unauthorized
from gateway.wiring.services import Services

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The master key acts as an admin that is no user: it owns nothing, so it names owners.
MASTER_PRINCIPAL = Principal(user_id="", role="admin")
_STATE_KEY = "atlas_admin_caller"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    via: Literal["session", "master_key"]
    user: User | None = None  # None for the master key
    claims: SessionClaims | None = None  # the session's, for logout and CSRF


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services = getattr(connection.app.state, "services", None)
    if not isinstance(services, Services):  # before the lifespan started, or after
        raise AdminError(
            503,
            "the gateway is starting or shutting down; retry shortly",
            type="server_error",
            code="not_ready",
            headers={"retry-after": "1"},
        )
    return services


def caller_of(request: Request[Any, Any, Any]) -> Caller:
    caller = request.scope.get("state", {}).get(_STATE_KEY)
    if not isinstance(caller, Caller):
        raise RuntimeError("an admin route without the admin guard")  # a wiring bug
    return caller


async def admin_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public"):
        return
    services = services_of(connection)
    caller = await authenticate(connection, services)
    connection.scope.setdefault("state", {})[_STATE_KEY] = caller


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], services: Services
) -> Caller:
    authorization = connection.headers.get("authorization")
    if authorization is not None:
        # A bearer token never falls back to the cookie: a wrong one is a 401.
        return _master_key_caller(authorization, services.settings.server.master_key)
    token = session_token(connection)
    if token is None:
        raise unauthorized()
    found = await services.accounts.directory.session_user(token)
    if isinstance(found, SessionRejected):
        raise unauthorized("the session is invalid or has ended; log in again")
    user, claims = found
    if connection.scope.get("method", "GET") not in SAFE_METHODS and not csrf_matches(
        claims, connection.headers.get(CSRF_HEADER)
    ):
        raise forbidden(f"missing or wrong {CSRF_HEADER} header for this session")
    return Caller(principal=principal_of(user), via="session", user=user, claims=claims)


def _master_key_caller(authorization: str, master_key: str | None) -> Caller:
    scheme, _, value = authorization.partition(" ")
    if not master_key or scheme.lower() != "bearer":
        raise unauthorized("only the master key is accepted as a bearer token here")
    if not hmac.compare_digest(value.strip().encode(), master_key.encode()):
        raise unauthorized("wrong bearer token")
    return Caller(principal=MASTER_PRINCIPAL, via="master_key")
