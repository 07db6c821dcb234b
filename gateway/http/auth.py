"""Who is calling /v1: the master key, an API key, or (open mode) nobody in particular.

The key is read from `Authorization: Bearer <key>`, else `x-api-key`, else `api-key`
(clients differ: CLIENTS.md). The master key is the automation principal, without
limits. An `sk-llm-` key is looked up in the accounts (cache, else one GET); any
rejection (malformed, unknown, revoked, expired, suspended) is the same 401, so a
caller learns nothing of which. With a master key configured every other key is
refused; without one (a loopback gateway), a missing or placeholder key passes as
anonymous, but an `sk-llm-` key is still checked, so its limits and usage apply.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any, Literal, cast

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from gateway.accounts.key_format import KEY_PREFIX
from gateway.accounts.keys import ApiKeys, KeyRejected
from gateway.accounts.limits import REDIS_FAILURES
from gateway.accounts.schema import ApiKey, KeyLimits
from gateway.http.errors import APIError
from gateway.http.state import ServicesRef

logger = logging.getLogger(__name__)

CALLER_SCOPE_KEY = "atlas.caller"
KEY_HEADERS = ("x-api-key", "api-key")  # after Authorization, in this order
NO_LIMITS = KeyLimits()
# Usage of callers without an API key goes under these ids (key ids are 12 hex).
MASTER_ID = "master"
ANONYMOUS_ID = "anonymous"


class Caller(msgspec.Struct, frozen=True):
    kind: Literal["master", "key", "anonymous"]
    key: ApiKey | None = None  # for kind "key"

    @property
    def usage_id(self) -> str:
        """Whom the usage ledger bills."""
        if self.key is not None:
            return self.key.id
        return MASTER_ID if self.kind == "master" else ANONYMOUS_ID

    @property
    def user_id(self) -> str | None:
        return self.key.owner if self.key is not None else None

    @property
    def limits(self) -> KeyLimits:
        return self.key.limits if self.key is not None else NO_LIMITS

    @property
    def models(self) -> tuple[str, ...] | None:
        """The models this caller may use; None: every model."""
        return self.key.models if self.key is not None else None

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


MASTER = Caller("master")
ANONYMOUS = Caller("anonymous")


def invalid_key() -> APIError:
    return APIError(
        401,
        "Invalid, revoked or expired API key, or none given. Send it as "
        "'Authorization: Bearer <key>' (or in an 'x-api-key' header).",
        code="invalid_api_key",
    )


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key the request carries, if any: Bearer first, then the two key headers."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for name in KEY_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the guard found (anonymous where no guard ran)."""
    return cast("Caller", connection.scope.get(CALLER_SCOPE_KEY, ANONYMOUS))


def api_key_guard(ref: ServicesRef, master_key: str | None) -> Any:
    """A litestar guard that identifies the caller and leaves it in the request's scope."""
    master = master_key.encode() if master_key else None

    # async: litestar runs a sync guard in a worker thread, a hop on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = await identify(ref, master, presented_key(connection.headers))
        connection.scope[CALLER_SCOPE_KEY] = caller  # type: ignore[literal-required]

    return guard


async def identify(ref: ServicesRef, master: bytes | None, key: str | None) -> Caller:
    if master is not None and key is not None and hmac.compare_digest(key.encode(), master):
        return MASTER
    if key is not None and key.startswith(KEY_PREFIX):
        return Caller("key", await _authenticate(ref.get().accounts.directory.keys, key))
    if master is not None:
        raise invalid_key()
    return ANONYMOUS  # open mode: clients send placeholders such as "x" or "sk-none"


async def _authenticate(keys: ApiKeys, key: str) -> ApiKey:
    try:
        record = await keys.authenticate(key)
    except REDIS_FAILURES as exc:  # fails closed: a key that cannot be checked is not let in
        raise APIError(
            503,
            f"Redis is unreachable or failing: API keys cannot be checked ({exc})",
            type="server_error",
            code="redis_unavailable",
            headers={"retry-after": "1"},
        ) from exc
    if isinstance(record, KeyRejected):
        logger.info("API key refused: %s", record.reason)  # the reason is for the log only
        raise invalid_key()
    try:
        await keys.touch(record)  # one write a minute per key at most
    except REDIS_FAILURES as exc:  # a last-used time is not worth a failed request
        logger.warning("could not note the use of key %s: %s", record.id, exc)
    return record
