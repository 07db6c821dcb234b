"""The admin API's one error shape and the table that maps every failure to it.

`{"error": {"message", "type", "param", "code"}}`, like the /v1 edge's, so one client parses both.
Accounts errors know nothing of HTTP; this is where they get a status. Redis being away
is a 503 that names it, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException

from gateway.accounts.errors import (
    AdminExistsError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidNameError,
    LoginThrottledError,
    NotFoundError,
    RegistrationClosedError,
    UserExistsError,
    WeakPasswordError,
)

logger = logging.getLogger(__name__)


class ErrorDetail(msgspec.Struct, kw_only=True):
    # The /v1 edge's fields in its order: litestar's own 404 and 405 under /admin/api
    # come from that table, and a client sees one shape either way.
    message: str
    type: str
    param: str | None = None
    code: str


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class AdminError(Exception):
    """An answer the admin API gives as it is: status, type, code and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(message=message, type=type, code=code, param=param)
        self.headers = headers or {}


def unauthorized(message: str = "log in, or send the master key as a bearer token") -> AdminError:
    return AdminError(401, message, type="authentication_error", code="unauthorized")


def not_found(message: str = "no such object") -> AdminError:
    return AdminError(404, message, type="not_found_error", code="not_found")


def forbidden(message: str) -> AdminError:
    return AdminError(403, message, type="permission_error", code="forbidden")


def bad_request(message: str, *, param: str | None = None) -> AdminError:
    return AdminError(400, message, code="invalid_value", param=param)


def to_admin_error(exc: BaseException) -> AdminError:
    match exc:
        case AdminError():
            return exc
        case NotFoundError() | RegistrationClosedError():
            # A closed registration is a route that does not exist, like any other.
            return not_found(str(exc) if isinstance(exc, NotFoundError) else "no such endpoint")
        case UserExistsError() | AdminExistsError():
            return AdminError(409, str(exc), code="conflict")
        case WeakPasswordError():
            return AdminError(422, str(exc), code="weak_password", param="password")
        case InvalidNameError():
            return bad_request(str(exc), param="name")
        case InvalidCredentialsError():
            return AdminError(
                401, str(exc), type="authentication_error", code="invalid_credentials"
            )
        case LoginThrottledError():
            return AdminError(
                429,
                str(exc),
                type="rate_limit_error",
                code="login_throttled",
                headers={"retry-after": str(exc.retry_after_s)},
            )
        case ForbiddenError():
            return forbidden(str(exc))
        case redis.exceptions.ConnectionError() | redis.exceptions.TimeoutError():
            logger.warning("admin API: Redis is unreachable: %s", exc)
            return AdminError(
                503,
                "the accounts store (Redis) is unreachable; retry shortly",
                type="server_error",
                code="store_unavailable",
                headers={"retry-after": "1"},
            )
        case HTTPException():
            return _from_litestar(exc)
    logger.exception("admin API: unhandled error", exc_info=exc)
    return AdminError(500, "internal error in the admin API", type="server_error", code="internal")


def _from_litestar(exc: HTTPException) -> AdminError:
    status = exc.status_code
    if status == 404:
        return not_found("no such endpoint")
    if status == 405:
        return AdminError(405, "method not allowed on this endpoint", code="method_not_allowed")
    if status == 413:
        return AdminError(413, "request body too large", code="request_too_large")
    if status >= 500:
        return AdminError(status, str(exc.detail), type="server_error", code="server_error")
    return AdminError(status, str(exc.detail), code="invalid_request")


def admin_error_response(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    error = to_admin_error(exc)
    return Response(
        content=msgspec.json.encode(ErrorBody(error=error.detail)),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )
