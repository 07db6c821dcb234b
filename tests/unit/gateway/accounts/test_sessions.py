"""Admin sessions: HS256 JWTs, refused for every way a token can be wrong."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import redis.asyncio as aioredis

from gateway.accounts.errors import SecretError
from gateway.accounts.passwords import Passwords
from gateway.accounts.sessions import (
    SessionClaims,
    SessionRejected,
    Sessions,
    csrf_matches,
)
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import MIN_HASH, PASSWORD

pytestmark = pytest.mark.redis

SECRET = b"j" * 32


@pytest.fixture
def sessions(client: aioredis.Redis, prefix: str) -> Sessions:
    return Sessions(client, prefix, SECRET, ttl_s=600)


def _claims(**override: object) -> dict[str, object]:
    now = time.time()
    claims: dict[str, object] = {
        "sub": "u1",
        "jti": "j1",
        "iat": now,
        "exp": now + 600,
        "csrf": "c" * 43,
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_issue_then_verify(sessions: Sessions) -> None:
    issued = sessions.issue("u1")
    claims = await sessions.verify(issued.token)
    assert isinstance(claims, SessionClaims)
    assert claims == issued.claims and claims.sub == "u1" and claims.csrf == issued.csrf
    assert claims.exp - claims.iat == 600
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "HS256"
    assert sessions.issue("u1").claims.jti != claims.jti


async def test_alg_none_is_refused(sessions: Sessions) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    for token in (f"{header}.{payload}.", jwt.encode(_claims(), None, algorithm="none")):
        assert await sessions.verify(token) == SessionRejected("bad_algorithm")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_another_algorithm_under_the_same_secret_is_refused(sessions: Sessions) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")
    assert await sessions.verify(token) == SessionRejected("bad_algorithm")


async def test_a_wrong_signature_is_refused(sessions: Sessions) -> None:
    forged = jwt.encode(_claims(), b"x" * 32, algorithm="HS256")
    assert await sessions.verify(forged) == SessionRejected("bad_signature")
    # A payload changed after signing (another user) keeps the old signature.
    genuine = sessions.issue("u1").token
    head, _payload, signature = genuine.split(".")
    tampered = f"{head}.{_b64(json.dumps(_claims(sub='admin')).encode())}.{signature}"
    assert await sessions.verify(tampered) == SessionRejected("bad_signature")


async def test_an_expired_token_is_refused(sessions: Sessions) -> None:
    token = jwt.encode(_claims(iat=time.time() - 20, exp=time.time() - 10), SECRET, "HS256")
    assert await sessions.verify(token) == SessionRejected("expired")


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "sub", "csrf"])
async def test_a_missing_claim_is_refused(sessions: Sessions, missing: str) -> None:
    claims = _claims()
    del claims[missing]
    result = await sessions.verify(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert isinstance(result, SessionRejected) and result.reason == "missing_claim"
    assert missing in result.detail


@pytest.mark.parametrize(
    "override", [{"sub": 7}, {"iat": time.time() + 3600}, {"csrf": ["x"]}, {"jti": None, "x": 1}]
)
async def test_wrong_claim_values_are_refused(
    sessions: Sessions, override: dict[str, object]
) -> None:
    token = jwt.encode(_claims(**override), SECRET, algorithm="HS256")
    result = await sessions.verify(token)
    assert isinstance(result, SessionRejected)
    assert result.reason == ("missing_claim" if "x" in override else "invalid")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000])
async def test_garbage_is_malformed(sessions: Sessions, token: str) -> None:
    result = await sessions.verify(token)
    assert isinstance(result, SessionRejected) and result.reason == "malformed"


async def test_logout_revokes_that_session_only_until_it_expires(
    sessions: Sessions, client: aioredis.Redis, prefix: str
) -> None:
    kept, dropped = sessions.issue("u1"), sessions.issue("u1")
    await sessions.revoke(dropped.claims)
    assert await sessions.verify(dropped.token) == SessionRejected("revoked", "logged out")
    assert isinstance(await sessions.verify(kept.token), SessionClaims)
    [name] = await client.keys(f"{prefix}session-revoked:*")
    assert 590 <= await client.ttl(name) <= 600


async def test_revoke_all_voids_earlier_sessions_not_later_ones(
    client: aioredis.Redis, prefix: str
) -> None:
    now = [time.time() - 100]
    sessions = Sessions(client, prefix, SECRET, clock=lambda: now[0])
    before = sessions.issue("u1")
    other_user = sessions.issue("u2")
    now[0] += 0.00001
    await sessions.revoke_all("u1")
    now[0] += 0.00001  # ten microseconds later
    after = sessions.issue("u1")
    real = Sessions(client, prefix, SECRET)  # PyJWT checks exp against the real clock
    for token, expected in ((before, False), (other_user, True), (after, True)):
        result = await real.verify(token.token)
        assert isinstance(result, SessionClaims) is expected, result


async def test_password_change_revokes_every_session_of_that_user(
    sessions: Sessions, client: aioredis.Redis, prefix: str
) -> None:
    async with Passwords(MIN_HASH) as passwords:
        users = Users(client, prefix, passwords)
        user = await users.create("kim", PASSWORD)
        old = [sessions.issue(user.id), sessions.issue(user.id)]
        await users.change_password(user.id, "another long passphrase")
    new = sessions.issue(user.id)
    for session in old:
        result = await sessions.verify(session.token)
        assert result == SessionRejected("revoked", "the password changed since")
    assert isinstance(await sessions.verify(new.token), SessionClaims)


async def test_csrf_must_match_the_session(sessions: Sessions) -> None:
    issued, other = sessions.issue("u1"), sessions.issue("u1")
    assert csrf_matches(issued.claims, issued.csrf)
    assert not csrf_matches(issued.claims, other.csrf)
    assert not csrf_matches(issued.claims, None)
    assert not csrf_matches(issued.claims, "")
    assert not csrf_matches(issued.claims, issued.csrf[:-1])


def test_a_short_secret_is_refused(client: aioredis.Redis, prefix: str) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        Sessions(client, prefix, b"x" * 31)
