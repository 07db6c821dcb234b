"""OpenAI-shaped errors and the one table that maps domain errors to HTTP.

Errors from every layer below (engines, sandbox, strategies) are translated here and
nowhere else. On the Messages routes (`/v1/messages...`) the same status goes out in
Anthropic's shape, its `type` read from the status (`ANTHROPIC_TYPES`)."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from engines import (
    CapacityExceededError,
    EngineError,
    NoUpstreamConfiguredError,
    QueueFullError,
    UpstreamProtocolError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from gateway.accounts.limits import LimitsUnavailableError, RateLimitedError
from gateway.accounts.limits_headers import rate_limit_headers
from gateway.drain import DrainExpiredError
from gateway.protocols.messages.schemas import ErrorBody as AnthropicErrorBody
from gateway.protocols.messages.schemas import ErrorDetail as AnthropicErrorDetail
from gateway.protocols.messages.schemas import ErrorType as AnthropicErrorType
from gateway.strategies.errors import CallError, UnknownModelError
from sandbox import InvalidTestsError

logger = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "ATLAS has no upstream configured. Point it at a llama-server or any "
    "OpenAI-compatible server: set ATLAS_UPSTREAM_URL=http://127.0.0.1:8080 "
    "(optionally ATLAS_MODEL_NAME), or add a [[models]] table with upstreams = [...] "
    "to the config file (see config/atlas.example.toml) and start with "
    "`atlas serve --config FILE`."
)
MESSAGES_PATH = "/v1/messages"
# Anthropic's error type for each status the table below answers with; any other
# status is invalid_request_error under 500 and api_error from 500 on.
ANTHROPIC_TYPES: dict[int, AnthropicErrorType] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",  # no upstream free, Redis down, shutting down: retry later
    504: "api_error",
    529: "overloaded_error",
}


class ErrorDetail(msgspec.Struct, kw_only=True):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    error: ErrorDetail


class APIError(Exception):
    """An error the gateway itself answers with, already in OpenAI terms."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(message=message, type=type, param=param, code=code)
        self.headers = headers or {}


def error_bytes(detail: ErrorDetail) -> bytes:
    return msgspec.json.encode(ErrorBody(error=detail))


def anthropic_type(status: int) -> AnthropicErrorType:
    return ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def anthropic_error_bytes(status: int, message: str) -> bytes:
    detail = AnthropicErrorDetail(type=anthropic_type(status), message=message)
    return msgspec.json.encode(AnthropicErrorBody(error=detail))


def is_messages_path(path: str) -> bool:
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


def to_api_error(exc: BaseException) -> APIError:
    """The mapping table: every domain error gets its status, type and code here."""
    match exc:
        case APIError():
            return exc
        case DrainExpiredError():
            return APIError(
                503,
                "the gateway is shutting down; retry on another instance",
                type="server_error",
                code="shutting_down",
                headers={"retry-after": "1"},
            )
        case RateLimitedError():
            # The key's own limits (not the upstream's capacity, below).
            return APIError(
                429,
                str(exc),
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers=rate_limit_headers(exc.decision),
            )
        case LimitsUnavailableError():
            return APIError(
                503,
                str(exc),
                type="server_error",
                code="redis_unavailable",
                headers={"retry-after": "1"},
            )
        case NoUpstreamConfiguredError():
            return APIError(503, HOW_TO_CONFIGURE, type="server_error", code="upstream_unavailable")
        case QueueFullError():
            # The model's wait queue, or this key's share of it (docs/scheduling.md).
            return APIError(
                429,
                exc.message,
                type="rate_limit_error",
                code="queue_full",
                headers={"retry-after": str(exc.retry_after_s)},
            )
        case CapacityExceededError():
            return APIError(
                429,
                exc.message,
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"retry-after": str(exc.retry_after_s)},
            )
        case UpstreamUnavailableError():
            return APIError(
                503,
                _tagged(exc),
                type="server_error",
                code="upstream_unavailable",
                headers={"retry-after": "1"},
            )
        case UpstreamTimeoutError():
            return APIError(504, _tagged(exc), type="server_error", code="upstream_timeout")
        case UpstreamProtocolError():
            return APIError(502, _tagged(exc), type="server_error", code="upstream_error")
        case EngineError():
            return APIError(502, _tagged(exc), type="server_error", code="upstream_error")
        case UnknownModelError():
            return APIError(404, exc.message, param=exc.param, code=exc.code)
        case CallError():
            return APIError(400, exc.message, param=exc.param, code=exc.code)
        case HTTPException():
            return _from_litestar(exc)
        case InvalidTestsError():
            return APIError(
                400, f"invalid atlas.tests: {exc}", param="atlas.tests", code="invalid_value"
            )
        case RecursionError():
            # Decoders and parsers recurse once per level of nesting: about 1,500 levels
            # of JSON (or of a Python expression in a prompt) exhaust the stack.
            logger.info("a request nested too deeply: %s", exc)
            return APIError(400, "the request is nested too deeply", code="invalid_json")
    logger.exception("unhandled error", exc_info=exc)
    return APIError(
        500, "internal error in the ATLAS gateway", type="server_error", code="internal_error"
    )


# The user:password@ of a URL (an upstream's credentials); linear: no `@` in the class.
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def _tagged(exc: EngineError) -> str:
    # Say where the failure came from so clients can tell upstream from gateway errors,
    # without the credentials an upstream URL may carry.
    text = f"upstream {exc.upstream}: {exc.message}" if exc.upstream else exc.message
    return _USERINFO.sub("", text)


def _from_litestar(exc: HTTPException) -> APIError:
    status = exc.status_code
    if status == 413:
        return APIError(
            413,
            "request body is larger than the configured limit (server.max_body_bytes)",
            code="request_too_large",
        )
    if status == 404:
        return APIError(404, "no such endpoint", code="not_found")
    if status == 405:
        return APIError(405, "method not allowed on this endpoint", code="method_not_allowed")
    if status == 401:
        return APIError(401, str(exc.detail), type="invalid_request_error", code="invalid_api_key")
    kind = "invalid_request_error" if status < 500 else "server_error"
    return APIError(status, str(exc.detail), type=kind)


def upstream_rejection(exc: UpstreamRejectedError, *, anthropic: bool = False) -> Response[bytes]:
    """Pass an upstream 4xx through, rewriting llama-server's integer `code` to OpenAI's
    shape (or Anthropic's)."""
    detail = _rejection_detail(exc)
    content = (
        anthropic_error_bytes(exc.status, detail.message) if anthropic else error_bytes(detail)
    )
    return Response(
        content=content,
        status_code=exc.status,
        media_type="application/json",
        headers=_retry_after(exc.headers),
    )


def _retry_after(headers: dict[str, str]) -> dict[str, str]:
    return {"retry-after": headers["retry-after"]} if "retry-after" in headers else {}


def _rejection_detail(exc: UpstreamRejectedError) -> ErrorDetail:
    try:
        data: Any = msgspec.json.decode(exc.body)
    except msgspec.DecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        text = exc.body[:500].decode("utf-8", "replace").strip() or exc.message
        return ErrorDetail(message=text, type="invalid_request_error")
    llama_type = error.get("type")
    code = error.get("code")
    if llama_type == "exceed_context_size_error":
        llama_type, code = "invalid_request_error", "context_length_exceeded"
    return ErrorDetail(
        message=str(error.get("message") or exc.message),
        type=str(llama_type or "invalid_request_error"),
        param=error.get("param") if isinstance(error.get("param"), str) else None,
        code=code if isinstance(code, str) else None,
    )


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    anthropic = is_messages_path(request.scope["path"])
    if isinstance(exc, UpstreamRejectedError):
        return upstream_rejection(exc, anthropic=anthropic)
    api_error = to_api_error(exc)
    if anthropic:
        content = anthropic_error_bytes(api_error.status, api_error.detail.message)
    else:
        content = error_bytes(api_error.detail)
    return Response(
        content=content,
        status_code=api_error.status,
        media_type="application/json",
        headers=api_error.headers,
    )
