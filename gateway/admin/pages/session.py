"""Signing in and out, the first-run page (no admin yet), and /admin itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.response import Redirect

from gateway.accounts.errors import InvalidCredentialsError, LoginThrottledError
from gateway.admin.auth import services_of
from gateway.admin.cookies import clear_session_cookie, set_session_cookie
from gateway.admin.errors import forbidden
from gateway.admin.pages.forms import query, read_form
from gateway.admin.pages.guard import PAGES_PATH, check_csrf, current_viewer, viewer_of
from gateway.admin.pages.render import page

HOME = f"{PAGES_PATH}/keys"


def _safe_next(value: str | None) -> str:
    """Only a path under /admin: never another site (an open redirect)."""
    if not value or not value.startswith(PAGES_PATH + "/") or value.startswith("//"):
        return HOME
    parts = urlsplit(value)
    return HOME if parts.scheme or parts.netloc or "\\" in value else value


@get("/", opt={"public": True})
async def home(request: Request[Any, Any, Any]) -> Redirect:
    return Redirect(HOME if current_viewer(request) else f"{PAGES_PATH}/login", status_code=303)


@get("/login", opt={"public": True})
async def login_page(request: Request[Any, Any, Any]) -> Response[Any]:
    back = _safe_next(query(request, {"next"}).get("next"))
    if current_viewer(request) is not None:
        return Redirect(back, status_code=303)
    users = services_of(request).accounts.directory.users
    if not await users.has_admin():
        return page(request, "first_run.html", {})
    return page(request, "login.html", {"next": back, "error": None, "name": ""})


@post("/login", opt={"public": True}, status_code=303)
async def log_in(request: Request[Any, Any, Any]) -> Response[Any]:
    _same_origin(request)
    form = await read_form(request, {"name", "password", "next"})
    back = _safe_next(form.get("next"))
    accounts = services_of(request).accounts.directory
    client = request.scope.get("client")
    try:
        _, session = await accounts.log_in(
            form.get("name", ""), form.get("password", ""), client[0] if client else None
        )
    except (InvalidCredentialsError, LoginThrottledError) as exc:
        status = 429 if isinstance(exc, LoginThrottledError) else 401
        context = {"next": back, "error": str(exc), "name": form.get("name", "")}
        return page(request, "login.html", context, status=status)
    response = Redirect(back, status_code=303)
    set_session_cookie(request, response, session.token, accounts.settings.session_ttl_s)
    return response


@post("/logout", status_code=303)
async def log_out(request: Request[Any, Any, Any]) -> Redirect:
    form = await read_form(request, {"csrf_token"})
    await check_csrf(request, form)
    await services_of(request).accounts.directory.sessions.revoke(viewer_of(request).claims)
    response = Redirect(f"{PAGES_PATH}/login", status_code=303)
    clear_session_cookie(request, response)
    return response


def _same_origin(request: Request[Any, Any, Any]) -> None:
    # Sign-in has no session yet, so no CSRF token: a browser's Origin must be ours.
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise forbidden("sign in from this gateway's own page")


HANDLERS = [home, login_page, log_in, log_out]
