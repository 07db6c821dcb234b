"""Forged and stale session tokens are refused by the admin API: `alg: none`, a wrong
signature, another algorithm, an expired token, missing claims, a revoked one. A token
forged with the real secret and every claim is accepted, so the forging is sound."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from config import Settings
from tests.integration.admin_support import SESSION_SECRET, AdminApi, open_admin_api
from tests.integration.conftest import RunningGateway


@pytest.fixture
def api(gateway_factory: Callable[[Settings], RunningGateway]) -> Iterator[AdminApi]:
    yield from open_admin_api(gateway_factory)


def _claims(sub: str, **changes: Any) -> dict[str, Any]:
    now = time.time()
    claims = {
        "sub": sub,
        "jti": secrets.token_urlsafe(16),
        "iat": now - 5,
        "exp": now + 600,
        "csrf": secrets.token_urlsafe(32),
    }
    claims.update(changes)
    return claims


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _status(api: AdminApi, token: str) -> int:
    return api.client().get("/session", headers={"cookie": f"atlas_session={token}"}).status_code


def test_a_token_forged_with_the_real_secret_is_accepted(api: AdminApi) -> None:
    admin = api.create_user("root", role="admin")
    token = jwt.encode(_claims(admin), SESSION_SECRET, algorithm="HS256")
    assert _status(api, token) == 200


def test_alg_none_is_refused(api: AdminApi) -> None:
    admin = api.create_user("root", role="admin")
    for alg in ("none", "None", "NONE"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims(admin))}."
        assert _status(api, token) == 401


def test_a_wrong_signature_or_another_algorithm_is_refused(api: AdminApi) -> None:
    admin = api.create_user("root", role="admin")
    assert _status(api, jwt.encode(_claims(admin), "w" * 48, algorithm="HS256")) == 401
    with pytest.warns(InsecureKeyLengthWarning):  # 48 bytes, fine for HS256
        other_alg = jwt.encode(_claims(admin), SESSION_SECRET, algorithm="HS512")
    assert _status(api, other_alg) == 401
    # A genuine member's token with its payload swapped for the admin's.
    api.create_user("alice")
    header, _, signature = api.log_in("alice").client.cookies["atlas_session"].split(".")
    assert _status(api, f"{header}.{_b64(_claims(admin))}.{signature}") == 401


def test_an_expired_token_is_refused(api: AdminApi) -> None:
    admin = api.create_user("root", role="admin")
    now = time.time()
    token = jwt.encode(
        _claims(admin, iat=now - 7200, exp=now - 60), SESSION_SECRET, algorithm="HS256"
    )
    assert _status(api, token) == 401


@pytest.mark.parametrize("claim", ["sub", "jti", "iat", "exp", "csrf"])
def test_a_token_missing_a_claim_is_refused(api: AdminApi, claim: str) -> None:
    admin = api.create_user("root", role="admin")
    claims = _claims(admin)
    del claims[claim]
    assert _status(api, jwt.encode(claims, SESSION_SECRET, algorithm="HS256")) == 401


def test_claims_of_the_wrong_type_or_an_unknown_user_are_refused(api: AdminApi) -> None:
    admin = api.create_user("root", role="admin")
    wrong_type = jwt.encode(_claims(admin, csrf=12), SESSION_SECRET, algorithm="HS256")
    assert _status(api, wrong_type) == 401
    nobody = jwt.encode(_claims("0123456789abcdef"), SESSION_SECRET, algorithm="HS256")
    assert _status(api, nobody) == 401
    assert _status(api, "not-a-jwt") == 401


def test_a_token_is_refused_after_logout(api: AdminApi) -> None:
    api.create_user("root", role="admin")
    login = api.log_in("root")
    token = login.client.cookies["atlas_session"]
    assert _status(api, token) == 200
    assert login.client.delete("/session", headers=login.csrf_header).status_code == 204
    assert _status(api, token) == 401
