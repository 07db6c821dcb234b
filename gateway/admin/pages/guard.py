"""Who is looking at a page: the session cookie, checked on the server for every page.

One guard on the pages router: no session (or an ended one) is a redirect to the sign-in
page; a page marked `opt={"admin": True}` answers a member 404, as if it were not there;
a state change (POST) must carry the session's CSRF token in the form's `csrf_token`
field (the cookie is SameSite=Strict as well). The master key is not a page viewer:
pages are for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.accounts.access import Principal, principal_of
from gateway.accounts.schema import User
from gateway.accounts.sessions import SessionClaims, SessionRejected, csrf_matches
from gateway.admin.auth import services_of
from gateway.admin.cookies import session_token
from gateway.admin.errors import AdminError, forbidden, not_found

CSRF_FIELD = "csrf_token"
PAGES_PATH = "/admin"
_STATE_KEY = "atlas_page_viewer"


@dataclass(frozen=True, slots=True)
class Viewer:
    user: User
    claims: SessionClaims

    @property
    def principal(self) -> Principal:
        return principal_of(self.user)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


class SignInRequired(Exception):
    """No session: the page answers with a redirect to the sign-in page."""

    def __init__(self, back_to: str) -> None:
        super().__init__("sign in first")
        self.back_to = back_to

    @property
    def location(self) -> str:
        return f"{PAGES_PATH}/login?next={quote(self.back_to, safe='/')}"


def current_viewer(connection: ASGIConnection[Any, Any, Any, Any]) -> Viewer | None:
    viewer = connection.scope.get("state", {}).get(_STATE_KEY)
    return viewer if isinstance(viewer, Viewer) else None


def viewer_of(request: Request[Any, Any, Any]) -> Viewer:
    viewer = current_viewer(request)
    if viewer is None:
        raise RuntimeError("a page without the page guard")  # a wiring bug
    return viewer


async def page_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    services = services_of(connection)
    token = session_token(connection)
    found = None if token is None else await services.accounts.directory.session_user(token)
    if found is None or isinstance(found, SessionRejected):
        if handler.opt.get("public"):
            return
        back = connection.url.path if connection.scope.get("method") == "GET" else PAGES_PATH
        raise SignInRequired(back)
    user, claims = found
    connection.scope.setdefault("state", {})[_STATE_KEY] = Viewer(user, claims)
    if handler.opt.get("admin") and user.role != "admin":
        raise not_found("no such page")


async def check_csrf(request: Request[Any, Any, Any], form: dict[str, str]) -> None:
    viewer = viewer_of(request)
    if not csrf_matches(viewer.claims, form.get(CSRF_FIELD)):
        raise forbidden("this form has expired or did not come from this site; reload the page")


def require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise AdminError(
            403, "only an admin can do this", type="permission_error", code="forbidden"
        )
