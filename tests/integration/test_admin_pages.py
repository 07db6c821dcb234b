"""The admin web UI's pages over plain HTTP (the browser tests are in tests/browser):
sign-in and its redirects, the first-run page, the security headers, every page's
authorization on the server, and bad input answered with a 400 page, never a 500."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from config import Settings
from tests.fakes.upstream import ScriptedUpstream
from tests.integration.admin_support import BEARER, MASTER_KEY, PASSWORD, SESSION_SECRET
from tests.integration.conftest import RunningGateway, make_settings, stored_traces

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

PAGES = ["/admin/keys", "/admin/usage", "/admin/traces"]
ADMIN_PAGES = ["/admin/users", "/admin/engines", "/admin/verification"]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def ui_settings(upstream: ScriptedUpstream) -> Settings:
    return make_settings(
        [{"name": "coder", "upstreams": [upstream.url]}],
        server={"master_key": MASTER_KEY},
        accounts={"session_secret": SESSION_SECRET},
    )


class Browser:
    """A cookie jar on the gateway, as a browser without JavaScript uses the pages."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.http = httpx.Client(base_url=gateway.url, timeout=10, follow_redirects=False)
        self.csrf = ""

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        reply = self.http.post("/admin/login", data={"name": name, "password": password})
        if reply.status_code == 303:
            page = self.http.get("/admin/keys")
            self.csrf = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        return reply

    def post(self, path: str, **fields: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf, **fields})


@pytest.fixture
def ui(
    gateway_factory: Callable[[Settings], RunningGateway], upstream: ScriptedUpstream
) -> Iterator[RunningGateway]:
    yield gateway_factory(ui_settings(upstream))


def _user(gateway: RunningGateway, name: str, role: str = "member") -> str:
    reply = httpx.post(
        gateway.url + "/admin/api/users",
        json={"name": name, "password": PASSWORD, "role": role},
        headers=BEARER,
    )
    assert reply.status_code == 201, reply.text
    user_id: str = reply.json()["id"]
    return user_id


def test_first_run_explains_create_admin_then_sign_in_works(ui: RunningGateway) -> None:
    browser = Browser(ui)
    first = browser.http.get("/admin/login")
    assert first.status_code == 200 and "atlas users create-admin" in first.text
    _user(ui, "root", "admin")
    assert "Sign in" in browser.http.get("/admin/login").text
    wrong = browser.sign_in("root", "wrong password here")
    assert wrong.status_code == 401 and "Sign in" in wrong.text
    assert browser.sign_in("root").status_code == 303
    for path in PAGES + ADMIN_PAGES:
        reply = browser.http.get(path)
        assert reply.status_code == 200, (path, reply.text[:500])
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        assert "unsafe-inline" not in reply.headers["content-security-policy"]
        assert reply.headers["cache-control"] == "no-store"


def test_pages_need_a_session_and_admin_pages_an_admin(ui: RunningGateway) -> None:
    _user(ui, "root", "admin")
    _user(ui, "alice")
    anonymous = httpx.Client(base_url=ui.url, follow_redirects=False)
    for path in PAGES + ADMIN_PAGES:
        reply = anonymous.get(path)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/admin/login")
    alice = Browser(ui)
    alice.sign_in("alice")
    for path in ADMIN_PAGES:
        assert alice.http.get(path).status_code == 404, path
    # A member's form cannot reach an admin action either.
    assert alice.post("/admin/users", name="mallory", password=PASSWORD).status_code == 404
    assert alice.post("/admin/traces/capture", capture="on").status_code == 403


def test_a_member_cannot_open_or_revoke_another_members_key(ui: RunningGateway) -> None:
    _user(ui, "alice")
    _user(ui, "bob")
    alice, bob = Browser(ui), Browser(ui)
    alice.sign_in("alice")
    bob.sign_in("bob")
    created = alice.post("/admin/keys", name="alices-laptop")
    assert created.status_code == 201 and "sk-llm-" in created.text
    key_id = re.search(r"/admin/keys/([0-9a-f]{12})", created.text).group(1)  # type: ignore[union-attr]
    assert bob.http.get(f"/admin/keys/{key_id}").status_code == 404
    assert bob.post(f"/admin/keys/{key_id}/revoke").status_code == 404
    assert bob.http.get("/admin/usage", params={"key": key_id}).status_code == 404
    assert "alices-laptop" not in bob.http.get("/admin/keys").text
    assert "revoked" not in alice.http.get(f"/admin/keys/{key_id}").text
    # A member may not set limits on their own key.
    assert alice.post("/admin/keys", name="big", max_k="9").status_code == 403


def test_state_changes_need_the_csrf_token(ui: RunningGateway) -> None:
    _user(ui, "alice")
    alice = Browser(ui)
    alice.sign_in("alice")
    forged = alice.http.post("/admin/keys", data={"name": "x", "csrf_token": "nope"})
    assert forged.status_code == 403
    assert alice.http.post("/admin/keys", data={"name": "x"}).status_code == 403
    assert "sk-llm-" not in alice.http.get("/admin/keys").text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/usage", {"from": "2026-02-30"}),
        ("/admin/usage", {"to": "yesterday"}),
        ("/admin/usage", {"from": "2026-01-10", "to": "2026-01-01"}),
        ("/admin/usage", {"colour": "red"}),
        ("/admin/traces", {"limit": "0"}),
        ("/admin/traces", {"limit": "x" * 5000}),
        ("/admin/traces/notanumber", {}),
        ("/admin/login", {"next": "x", "other": "y"}),
    ],
)
def test_bad_input_is_a_400_page(ui: RunningGateway, path: str, params: dict[str, str]) -> None:
    _user(ui, "root", "admin")
    browser = Browser(ui)
    browser.sign_in("root")
    reply = browser.http.get(path, params=params)
    assert reply.status_code == 400, (path, params, reply.text[:300])
    assert "text/html" in reply.headers["content-type"]
    assert "content-security-policy" in reply.headers


def test_bad_forms_are_400_pages_and_sign_in_redirects_stay_on_site(ui: RunningGateway) -> None:
    _user(ui, "root", "admin")
    browser = Browser(ui)
    browser.sign_in("root")
    assert browser.post("/admin/keys", name="").status_code == 400
    assert browser.post("/admin/keys", name="k", models="nosuchmodel").status_code == 400
    assert browser.post("/admin/keys", name="k", max_k="-3").status_code == 400
    assert browser.post("/admin/keys", name="k", surprise="1").status_code == 400
    raw = browser.http.post(
        "/admin/keys",
        content=b"name=%ff&csrf_token=" + browser.csrf.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 400
    assert browser.http.post("/admin/keys", json={"name": "k"}).status_code == 415
    assert browser.http.get("/admin/traces/999999").status_code == 404
    stranger = Browser(ui)
    reply = stranger.http.post(
        "/admin/login", data={"name": "root", "password": PASSWORD, "next": "//evil.example/"}
    )
    assert reply.status_code == 303 and reply.headers["location"] == "/admin/keys"


def test_static_files_are_served_with_the_policy(ui: RunningGateway) -> None:
    for name in ("atlas.css", "atlas.js", "chart.umd.js"):
        reply = httpx.get(f"{ui.url}/admin/static/{name}")
        assert reply.status_code == 200, name
        assert "content-security-policy" in reply.headers


def test_a_member_sees_only_their_own_traces_and_sign_out_ends_the_session(
    ui: RunningGateway,
) -> None:
    _user(ui, "root", "admin")
    _user(ui, "alice")
    _user(ui, "bob")
    alice, bob = Browser(ui), Browser(ui)
    alice.sign_in("alice")
    bob.sign_in("bob")
    keys = {}
    for who, browser in (("alice", alice), ("bob", bob)):
        page = browser.post("/admin/keys", name=f"{who}-key").text
        keys[who] = re.search(r'id="new-key" class="key">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    for who, key in keys.items():
        reply = httpx.post(
            ui.base_url + "/chat/completions",
            json={"model": "coder", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}", "x-request-id": f"req-of-{who}"},
        )
        assert reply.status_code == 200, reply.text
    mine = alice.http.get("/admin/traces").text
    assert "req-of-alice" in mine and "req-of-bob" not in mine
    bobs = stored_traces(ui, 1, lambda t: t.request_id == "req-of-bob")[0]
    assert alice.http.get(f"/admin/traces/{bobs.id}").status_code == 404
    assert bob.http.get(f"/admin/traces/{bobs.id}").status_code == 200
    root = Browser(ui)
    root.sign_in("root")
    every = root.http.get("/admin/traces").text
    assert "req-of-alice" in every and "req-of-bob" in every
    # Signing out revokes the session, not only the cookie.
    cookie = dict(alice.http.cookies)
    assert alice.post("/admin/logout").headers["location"] == "/admin/login"
    replay = httpx.get(ui.url + "/admin/keys", cookies=cookie, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/admin/login")
    assert alice.http.get("/admin/").headers["location"] == "/admin/login"
    assert root.http.get("/admin/").headers["location"] == "/admin/keys"
