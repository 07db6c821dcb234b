"""Admin sessions as signed JWTs (HS256 only), with logout and password-change revocation.

A token carries `sub` (user id), `iat`, `exp`, `jti` and `csrf`. The edge keeps the token
in an HttpOnly cookie and hands `csrf` to the page, which sends it back as a header on
every state-changing request (`csrf_matches`): a forged cross-site request has the
cookie but not the header. Logout writes `{p}session-revoked:{jti}` until the token
would expire anyway; a password change writes `{p}sessions-not-before:{user}` (µs), which
voids every token issued at or before it. `iat` carries microseconds so a login right
after a password change is told apart from the sessions it voided.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Callable
from typing import Literal

import jwt
import msgspec
import redis.asyncio as aioredis

from config.accounts import MIN_SECRET_BYTES
from gateway.accounts.errors import SecretError
from gateway.accounts.schema import micros, session_revoked_key, sessions_not_before_key

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "jti", "sub", "csrf")
DEFAULT_TTL_S = 8 * 3600

SessionRejectReason = Literal[
    "malformed", "bad_algorithm", "bad_signature", "expired", "missing_claim", "invalid", "revoked"
]


class SessionClaims(msgspec.Struct, frozen=True, kw_only=True):
    sub: str  # user id
    jti: str
    iat: float
    exp: float
    csrf: str


class IssuedSession(msgspec.Struct, frozen=True, kw_only=True):
    token: str  # for the cookie
    csrf: str  # for the page, sent back as a header
    claims: SessionClaims


class SessionRejected(msgspec.Struct, frozen=True):
    """Why a token is refused; the edge answers every reason with one 401."""

    reason: SessionRejectReason
    detail: str = ""


class Sessions:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        secret: bytes,
        *,
        ttl_s: int = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise SecretError(f"the session secret must be at least {MIN_SECRET_BYTES} bytes")
        self._redis = redis
        self._prefix = prefix
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock

    def issue(self, user_id: str) -> IssuedSession:
        now = micros(self._clock()) / 1_000_000  # whole µs, as not-before is
        claims = SessionClaims(
            sub=user_id,
            jti=secrets.token_urlsafe(16),
            iat=now,
            exp=now + self._ttl_s,
            csrf=secrets.token_urlsafe(32),
        )
        token = jwt.encode(msgspec.structs.asdict(claims), self._secret, algorithm=ALGORITHM)
        return IssuedSession(token=token, csrf=claims.csrf, claims=claims)

    async def verify(self, token: str) -> SessionClaims | SessionRejected:
        """The token's claims if it is genuine, current and not revoked (one round trip)."""
        claims = self._decode(token)
        if isinstance(claims, SessionRejected):
            return claims
        revoked, not_before_us = await self._redis.mget(
            [
                session_revoked_key(self._prefix, claims.jti),
                sessions_not_before_key(self._prefix, claims.sub),
            ]
        )
        if revoked is not None:
            return SessionRejected("revoked", "logged out")
        if not_before_us is not None and round(claims.iat * 1_000_000) <= int(not_before_us):
            return SessionRejected("revoked", "the password changed since")
        return claims

    async def revoke(self, claims: SessionClaims) -> None:
        """Log one session out, until the moment it would have expired anyway."""
        remaining_s = math.ceil(claims.exp - self._clock())
        if remaining_s > 0:
            await self._redis.set(
                session_revoked_key(self._prefix, claims.jti), b"1", ex=remaining_s
            )

    async def revoke_all(self, user_id: str) -> None:
        """Void every session of the user issued until now (done by a password change)."""
        await self._redis.set(sessions_not_before_key(self._prefix, user_id), micros(self._clock()))

    def _decode(self, token: str) -> SessionClaims | SessionRejected:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # pinned: never `none`, never another family
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            return SessionRejected("expired")
        except jwt.MissingRequiredClaimError as exc:
            return SessionRejected("missing_claim", str(exc))
        except jwt.InvalidAlgorithmError:
            return SessionRejected("bad_algorithm")
        except jwt.InvalidSignatureError:
            return SessionRejected("bad_signature")
        except jwt.DecodeError as exc:
            return SessionRejected("malformed", str(exc))
        except jwt.InvalidTokenError as exc:  # immature iat, wrong claim types
            return SessionRejected("invalid", str(exc))
        try:
            return msgspec.convert(payload, SessionClaims)
        except msgspec.ValidationError as exc:
            return SessionRejected("invalid", str(exc))


def csrf_matches(claims: SessionClaims, header: str | None) -> bool:
    """Whether a state-changing request's CSRF header belongs to this session."""
    return header is not None and hmac.compare_digest(claims.csrf.encode(), header.encode())
