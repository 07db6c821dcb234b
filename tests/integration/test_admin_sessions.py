"""Admin sessions over real HTTP: login, whoami, logout, cookie attributes by scheme and
host, CSRF on state changes, the login throttle, and the master key as a bearer."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from config import Settings
from gateway.app import create_app
from gateway.serving import server_options
from gateway.testing import serve_in_thread
from tests.integration.admin_support import (
    BEARER,
    PASSWORD,
    AdminApi,
    admin_settings,
    error_of,
    open_admin_api,
)
from tests.integration.conftest import RunningGateway, make_settings

TTL_S = 3600


@pytest.fixture
def api(gateway_factory: Callable[[Settings], RunningGateway]) -> Iterator[AdminApi]:
    settings = admin_settings(
        session_ttl_s=TTL_S, throttle={"account_failures": 3, "window_s": 120}
    )
    yield from open_admin_api(gateway_factory, settings)


def _set_cookie(reply: httpx.Response) -> SimpleCookie:
    headers = reply.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    cookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


def _attributes(reply: httpx.Response) -> tuple[str, set[str]]:
    """The cookie's name and its attributes, lowercased, as `name` or `name=value`."""
    raw = reply.headers["set-cookie"]
    name = raw.split("=", 1)[0]
    parts = {p.strip().lower() for p in raw.split(";")[1:]}
    return name, parts


def test_login_whoami_logout(api: AdminApi) -> None:
    api.create_user("alice")
    login = api.log_in("Alice")  # names are case-insensitive
    assert login.user["name"] == "alice" and login.user["role"] == "member"
    assert "password_hash" not in login.user

    me = login.client.get("/session")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == login.user["id"]
    assert me.json()["csrf_token"] == login.csrf
    token = login.client.cookies["atlas_session"]

    out = login.client.delete("/session", headers=login.csrf_header)
    assert out.status_code == 204
    name, attributes = _attributes(out)
    assert name == "atlas_session" and "max-age=0" in attributes
    assert error_of(login.client.get("/session"))["code"] == "unauthorized"
    # The token itself is revoked, not only forgotten by this client.
    replay = api.client().get("/session", headers={"cookie": f"atlas_session={token}"})
    assert replay.status_code == 401


def test_wrong_password_and_unknown_user_get_one_answer(api: AdminApi) -> None:
    api.create_user("alice")
    client = api.client()
    wrong = client.post("/session", json={"name": "alice", "password": "not the password"})
    unknown = client.post("/session", json={"name": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert error_of(wrong) == error_of(unknown)
    assert "set-cookie" not in wrong.headers


def test_loopback_http_cookie_has_no_secure_and_no_host_prefix(api: AdminApi) -> None:
    api.create_user("alice")
    reply = api.client().post("/session", json={"name": "alice", "password": PASSWORD})
    name, attributes = _attributes(reply)
    assert name == "atlas_session"
    assert {"httponly", "samesite=strict", "path=/", f"max-age={TTL_S}"} <= attributes
    assert "secure" not in attributes
    assert not any(a.startswith("domain") for a in attributes)


def test_a_non_loopback_host_gets_the_secure_host_cookie(api: AdminApi) -> None:
    # Plain http under a public name (a proxy that passes Host on): the cookie is Secure
    # (a browser keeps it only over https) and __Host- prefixed.
    api.create_user("alice")
    client = api.client()
    reply = client.post(
        "/session",
        json={"name": "alice", "password": PASSWORD},
        headers={"host": "atlas.example.com"},
    )
    name, attributes = _attributes(reply)
    assert name == "__Host-atlas_session"
    assert {"secure", "httponly", "samesite=strict", "path=/", f"max-age={TTL_S}"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    token = _set_cookie(reply)["__Host-atlas_session"].value
    # Each mode reads only its own name: a loopback request ignores the __Host- cookie
    # and a request under the public name ignores the loopback one.
    loopback = {"cookie": f"__Host-atlas_session={token}"}
    assert client.get("/session", headers=loopback).status_code == 401
    public = {"host": "atlas.example.com"}
    assert (
        client.get("/session", headers={**public, "cookie": f"atlas_session={token}"}).status_code
        == 401
    )
    secure_host = client.get(
        "/session", headers={**public, "cookie": f"__Host-atlas_session={token}"}
    )
    assert secure_host.status_code == 200


def test_x_forwarded_proto_is_ignored_without_trusted_proxies(api: AdminApi) -> None:
    api.create_user("alice")
    reply = api.client().post(
        "/session",
        json={"name": "alice", "password": PASSWORD},
        headers={"x-forwarded-proto": "https"},
    )
    name, attributes = _attributes(reply)
    assert name == "atlas_session" and "secure" not in attributes


def test_x_forwarded_proto_from_a_trusted_proxy_makes_the_cookie_secure(
    gateway_factory: Callable[[Settings], RunningGateway],
) -> None:
    settings = make_settings(
        [],
        server={"master_key": BEARER["authorization"].split()[1], "trusted_proxies": ["127.0.0.1"]},
    )
    for api in open_admin_api(gateway_factory, settings):
        api.create_user("alice")
        reply = api.client().post(
            "/session",
            json={"name": "alice", "password": PASSWORD},
            headers={"x-forwarded-proto": "https"},
        )
        name, attributes = _attributes(reply)
        assert name == "__Host-atlas_session"
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes


def test_csrf_is_required_on_state_changes_by_cookie(api: AdminApi) -> None:
    api.create_user("alice")
    api.create_user("bob")
    alice, bob = api.log_in("alice"), api.log_in("bob")
    body = {"name": "laptop"}
    missing = alice.client.post("/keys", json=body)
    wrong = alice.client.post("/keys", json=body, headers={"x-csrf-token": "x" * 43})
    others = alice.client.post("/keys", json=body, headers=bob.csrf_header)
    for reply in (missing, wrong, others):
        assert reply.status_code == 403
        assert error_of(reply)["code"] == "forbidden"
    assert alice.client.get("/keys").json()["keys"] == []  # nothing was created
    assert alice.client.delete("/session").status_code == 403  # logout too
    ok = alice.client.post("/keys", json=body, headers=alice.csrf_header)
    assert ok.status_code == 201
    assert alice.client.get("/keys").status_code == 200  # reads need no token


def test_failed_logins_lock_the_account_with_retry_after(api: AdminApi) -> None:
    api.create_user("alice")
    client = api.client()
    for _ in range(3):
        reply = client.post("/session", json={"name": "alice", "password": "wrong password!"})
        assert reply.status_code == 401
    locked = client.post("/session", json={"name": "alice", "password": "wrong password!"})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 120
    assert error_of(locked)["code"] == "login_throttled"
    right = client.post("/session", json={"name": "alice", "password": PASSWORD})
    assert right.status_code == 429 and "set-cookie" not in right.headers


def test_master_key_bearer_is_an_admin_without_csrf(api: AdminApi) -> None:
    me = api.master.get("/session")
    assert me.status_code == 200 and me.json() == {"auth": "master_key"}
    alice = api.create_user("alice")  # a POST with no cookie and no CSRF token
    assert api.master.get(f"/users/{alice}").json()["name"] == "alice"
    wrong = api.client().get("/session", headers={"authorization": "Bearer " + "x" * 43})
    assert wrong.status_code == 401
    basic = api.client().get("/session", headers={"authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_a_wrong_bearer_does_not_fall_back_to_the_cookie(api: AdminApi) -> None:
    api.create_user("alice")
    alice = api.log_in("alice")
    reply = alice.client.get("/session", headers={"authorization": "Bearer nope"})
    assert reply.status_code == 401


def test_bodies_are_decoded_strictly(api: AdminApi) -> None:
    client = api.client()
    cases = [
        ({"json": {"name": "a", "password": "b", "extra": 1}}, 400),
        ({"json": {"name": "a", "password": 5}}, 400),
        ({"json": {"name": "a"}}, 400),
        ({"json": ["name", "password"]}, 400),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"", "headers": {"content-type": "application/json"}}, 400),
        (
            {
                "content": b'{"name": "\xff", "password": "x"}',
                "headers": {"content-type": "application/json"},
            },
            400,
        ),
        ({"data": {"name": "a", "password": "b"}}, 415),  # an HTML form
    ]
    for kwargs, status in cases:
        reply = client.post("/session", **kwargs)  # type: ignore[arg-type]
        assert reply.status_code == status, (kwargs, reply.text)
        error_of(reply)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the https test")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


def test_over_real_https_the_cookie_is_secure_and_host_prefixed(
    tls_files: tuple[Path, Path],
) -> None:
    key, cert = tls_files
    settings = admin_settings(session_ttl_s=TTL_S)
    app = create_app(settings)
    server = serve_in_thread(
        app,
        lifespan="on",
        ssl_keyfile=str(key),
        ssl_certfile=str(cert),
        **server_options(settings.server),
    )
    try:
        base = f"https://127.0.0.1:{server.port}/admin/api"
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=base, verify=trust, headers=BEARER) as master:
            made = master.post("/users", json={"name": "alice", "password": PASSWORD})
            assert made.status_code == 201
        with httpx.Client(base_url=base, verify=trust) as client:
            reply = client.post("/session", json={"name": "alice", "password": PASSWORD})
            name, attributes = _attributes(reply)
            assert name == "__Host-atlas_session"
            assert {"secure", "httponly", "samesite=strict", "path=/", f"max-age={TTL_S}"} <= (
                attributes
            )
            assert not any(a.startswith("domain") for a in attributes)
            assert client.get("/session").status_code == 200  # the jar sends it back
            token = _set_cookie(reply)["__Host-atlas_session"].value
            client.cookies.clear()
            loopback_name = client.get("/session", headers={"cookie": f"atlas_session={token}"})
            assert loopback_name.status_code == 401  # over https only the __Host- name counts
    finally:
        server.stop()
