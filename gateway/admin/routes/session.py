"""Logging in and out, who am I, and open registration."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post

from gateway.accounts.errors import RegistrationClosedError
from gateway.accounts.schema import User
from gateway.accounts.sessions import IssuedSession
from gateway.admin.auth import caller_of, services_of
from gateway.admin.bodies import read_body
from gateway.admin.cookies import clear_session_cookie, set_session_cookie
from gateway.admin.schemas import LoginBody, RegisterBody, SessionOut, UserOut, user_out


def _session_answer(
    request: Request[Any, Any, Any], user: User, session: IssuedSession, ttl_s: int
) -> Response[SessionOut]:
    body = SessionOut(
        auth="session", user=user_out(user), csrf_token=session.csrf, expires_at=session.claims.exp
    )
    response = Response(body, status_code=200)
    set_session_cookie(request, response, session.token, ttl_s)
    return response


@post(
    "/session",
    opt={"public": True, "body": LoginBody},
    summary="Log in: sets the session cookie, returns the CSRF token",
)
async def log_in(request: Request[Any, Any, Any]) -> Response[SessionOut]:
    services = services_of(request)
    body = await read_body(request, LoginBody)
    accounts = services.accounts.directory
    client = request.scope.get("client")
    user, session = await accounts.log_in(body.name, body.password, client[0] if client else None)
    return _session_answer(request, user, session, accounts.settings.session_ttl_s)


@get("/session", summary="Who am I: the caller and, for a session, its CSRF token")
async def who_am_i(request: Request[Any, Any, Any]) -> SessionOut:
    caller = caller_of(request)
    if caller.user is None or caller.claims is None:
        return SessionOut(auth="master_key")
    return SessionOut(
        auth="session",
        user=user_out(caller.user),
        csrf_token=caller.claims.csrf,
        expires_at=caller.claims.exp,
    )


@delete("/session", summary="Log out: the session's token is revoked and the cookie cleared")
async def log_out(request: Request[Any, Any, Any]) -> Response[None]:
    caller = caller_of(request)
    if caller.claims is not None:
        await services_of(request).accounts.directory.sessions.revoke(caller.claims)
    response: Response[None] = Response(None, status_code=204)
    clear_session_cookie(request, response)
    return response


@post(
    "/register",
    opt={"public": True, "body": RegisterBody},
    summary="Sign up as a member (only with [accounts] open_registration)",
    status_code=201,
)
async def register(request: Request[Any, Any, Any]) -> UserOut:
    accounts = services_of(request).accounts.directory
    if not accounts.settings.open_registration:
        raise RegistrationClosedError()  # before reading the body: the route is not there
    body = await read_body(request, RegisterBody)
    return user_out(await accounts.register(body.name, body.password))


HANDLERS = [log_in, who_am_i, log_out, register]
