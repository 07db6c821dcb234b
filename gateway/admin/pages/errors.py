"""One way every page fails: an error page with the status and a sentence that says
what to do, built from the admin API's error table (`admin/errors.py`); no session is a
redirect to the sign-in page. Bad input is a 400 page, never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.response import Redirect

from gateway.admin.errors import bad_request, to_admin_error
from gateway.admin.pages.guard import SignInRequired
from gateway.admin.pages.render import page, secure

TITLES = {
    400: "That request was not understood",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Already taken",
    413: "Too large",
    415: "Wrong form encoding",
    422: "Not accepted",
    429: "Too many attempts",
    503: "Not available right now",
}


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        return secure(Redirect(exc.location, status_code=303))
    if isinstance(exc, ValidationException):  # a path parameter of the wrong type
        exc = bad_request("a part of this address is not valid")
    error = to_admin_error(exc)
    context = {
        "status": error.status,
        "title": TITLES.get(error.status, "Something went wrong"),
        "message": error.detail.message,
    }
    rendered = page(request, "error.html", context, status=error.status)
    rendered.headers.update(error.headers)
    return secure(rendered)
