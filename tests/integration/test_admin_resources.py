"""Users, keys and usage through the admin API: a member sees and changes only their own
(another user's object is a 404, answered exactly like one that does not exist), an admin
sees all, admin-only fields are a 403 to a member, registration follows its setting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from config import Settings
from gateway.accounts.usage import UsageEvent, UsageRecorder
from tests.integration.admin_support import (
    PASSWORD,
    AdminApi,
    Login,
    admin_settings,
    error_of,
    open_admin_api,
)
from tests.integration.conftest import RunningGateway


@pytest.fixture
def api(gateway_factory: Callable[[Settings], RunningGateway]) -> Iterator[AdminApi]:
    yield from open_admin_api(gateway_factory)


def _key(login: Login, name: str = "laptop") -> dict[str, object]:
    reply = login.client.post("/keys", json={"name": name}, headers=login.csrf_header)
    assert reply.status_code == 201, reply.text
    body: dict[str, object] = reply.json()
    return body


def _same_404(a: object, b: object) -> None:
    # The answer for someone else's object and for no object differ only in the id.
    assert a == b


def test_a_member_cannot_see_or_touch_another_members_key(api: AdminApi) -> None:
    api.create_user("alice")
    bob_id = api.create_user("bob")
    alice, bob = api.log_in("alice"), api.log_in("bob")
    created = _key(alice)
    assert isinstance(created["key"], str) and created["key"].startswith("sk-llm-")
    key_id = created["record"]["id"]  # type: ignore[index]
    made_up = "0" * 12
    h = bob.csrf_header
    for method, extra in (("GET", {}), ("PATCH", {"json": {"name": "mine"}}), ("DELETE", {})):
        theirs = bob.client.request(method, f"/keys/{key_id}", headers=h, **extra)  # type: ignore[arg-type]
        none = bob.client.request(method, f"/keys/{made_up}", headers=h, **extra)  # type: ignore[arg-type]
        assert theirs.status_code == none.status_code == 404, (method, theirs.text)
        _same_404(
            error_of(theirs)["message"].replace(key_id, "ID"),
            error_of(none)["message"].replace(made_up, "ID"),
        )
    assert bob.client.get("/keys").json() == {"keys": []}
    assert bob.client.get("/keys", params={"user": alice.user["id"]}).status_code == 404
    # Alice's key survived Bob's attempts, unrevoked and unrenamed.
    mine = alice.client.get(f"/keys/{key_id}").json()
    assert mine["name"] == "laptop" and not mine.get("revoked")
    assert bob.client.get(f"/users/{alice.user['id']}").status_code == 404
    assert bob.client.get(f"/users/{bob_id}").status_code == 200
    assert bob.client.delete(f"/users/{alice.user['id']}", headers=h).status_code == 404
    assert error_of(bob.client.get("/users"))["code"] == "forbidden"


def test_an_admin_sees_and_manages_every_key(api: AdminApi) -> None:
    api.create_user("root", role="admin")
    api.create_user("alice")
    root, alice = api.log_in("root"), api.log_in("alice")
    key_id = _key(alice)["record"]["id"]  # type: ignore[index]
    listed = root.client.get("/keys").json()["keys"]
    assert [k["id"] for k in listed] == [key_id]
    assert "digest" not in listed[0]
    assert root.client.get("/keys", params={"user": alice.user["id"]}).json()["keys"] == listed
    patched = root.client.patch(
        f"/keys/{key_id}",
        json={"limits": {"rpm": 10}, "models": ["coder"], "expires_at": time.time() + 3600},
        headers=root.csrf_header,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["limits"] == {"rpm": 10} and patched.json()["models"] == ["coder"]
    cleared = root.client.patch(f"/keys/{key_id}", json={"models": None}, headers=root.csrf_header)
    assert "models" not in cleared.json()  # null: every model again
    revoked = root.client.delete(f"/keys/{key_id}", headers=root.csrf_header)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert alice.client.get(f"/keys/{key_id}").json()["revoked"] is True
    users = root.client.get("/users").json()["users"]
    assert sorted(u["name"] for u in users) == ["alice", "root"]


def test_admin_only_key_fields_are_a_403_to_a_member(api: AdminApi) -> None:
    api.create_user("alice")
    alice = api.log_in("alice")
    h = alice.csrf_header
    for extra in ({"limits": {"rpm": 1}}, {"models": ["coder"]}, {"expires_at": time.time() + 60}):
        reply = alice.client.post("/keys", json={"name": "k", **extra}, headers=h)
        assert reply.status_code == 403, extra
    assert alice.client.get("/keys").json() == {"keys": []}
    key_id = _key(alice)["record"]["id"]  # type: ignore[index]
    for extra in ({"limits": {"rpm": 1}}, {"models": None}, {"expires_at": None}):
        assert alice.client.patch(f"/keys/{key_id}", json=extra, headers=h).status_code == 403
    renamed = alice.client.patch(f"/keys/{key_id}", json={"name": "desk"}, headers=h)
    assert renamed.status_code == 200 and renamed.json()["name"] == "desk"
    revoked = alice.client.delete(f"/keys/{key_id}", headers=h)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True


def test_the_master_key_names_an_owner_for_new_keys(api: AdminApi) -> None:
    alice = api.create_user("alice")
    nameless = api.master.post("/keys", json={"name": "ci"})
    assert nameless.status_code == 400 and error_of(nameless)["param"] == "owner"
    made = api.master.post("/keys", json={"name": "ci", "owner": alice, "limits": {"rpm": 5}})
    assert made.status_code == 201 and made.json()["record"]["owner"] == alice
    assert api.master.post("/keys", json={"name": "x", "owner": "f" * 16}).status_code == 404


def test_bad_key_bodies_are_400s(api: AdminApi) -> None:
    alice = api.create_user("alice")
    cases = [
        {"name": "k", "owner": alice, "limits": {"rpm": -1}},
        {"name": "k", "owner": alice, "limits": {"rpm": "10"}},
        {"name": "k", "owner": alice, "models": "coder"},
        {"name": "k", "owner": alice, "expires_at": time.time() - 10},
        {"name": "", "owner": alice},
        {"name": "k", "owner": alice, "color": "red"},
    ]
    for body in cases:
        reply = api.master.post("/keys", json=body)
        assert reply.status_code == 400, (body, reply.text)


def _record_usage(api: AdminApi, events: list[UsageEvent]) -> None:
    store = api.gateway.services.store

    async def write() -> None:
        client = aioredis.Redis.from_url(str(api.gateway.settings.redis.url))
        try:
            async with UsageRecorder(client, prefix=store.prefix) as recorder:
                for event in events:
                    recorder.record(event)
        finally:
            await client.aclose()

    asyncio.run(write())


def test_usage_a_member_sees_only_their_own(api: AdminApi) -> None:
    api.create_user("root", role="admin")
    api.create_user("alice")
    api.create_user("bob")
    root, alice, bob = api.log_in("root"), api.log_in("alice"), api.log_in("bob")
    a_key = _key(alice)["record"]["id"]  # type: ignore[index]
    b_key = _key(bob)["record"]["id"]  # type: ignore[index]
    a_id, b_id = alice.user["id"], bob.user["id"]
    _record_usage(
        api,
        [
            UsageEvent(key_id=a_key, user_id=a_id, model="coder", route="fast", prompt_tokens=3),
            UsageEvent(key_id=a_key, user_id=a_id, model="coder", route="fast", prompt_tokens=4),
            UsageEvent(key_id=b_key, user_id=b_id, model="coder", route="best_of_k", k=5),
        ],
    )
    today = datetime.now(UTC).date().isoformat()
    mine = alice.client.get("/usage", params={"from": today, "to": today}).json()
    assert mine["from"] == mine["to"] == today
    assert [(r["key_id"], r["counts"]["requests"]) for r in mine["rows"]] == [(a_key, 2)]
    assert mine["totals"]["requests"] == 2 and mine["totals"]["prompt_tokens"] == 7
    for params in ({"user": b_id}, {"key": b_key}):
        reply = alice.client.get("/usage", params=params)
        assert reply.status_code == 404, params
    everyone = root.client.get("/usage").json()
    assert everyone["totals"]["requests"] == 3
    assert everyone["totals"]["k"] == {"1": 2, "5": 1}
    only_bob = root.client.get("/usage", params={"user": b_id}).json()
    assert [r["key_id"] for r in only_bob["rows"]] == [b_key]


def test_usage_query_mistakes_are_400s(api: AdminApi) -> None:
    for params in (
        {"from": "2026-13-01"},
        {"from": "2026-W01-1"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"colour": "red"},
    ):
        reply = api.master.get("/usage", params=params)
        assert reply.status_code == 400, params
        error_of(reply)


def test_users_create_conflicts_weak_passwords_and_names(api: AdminApi) -> None:
    api.create_user("alice")
    taken = api.master.post("/users", json={"name": "ALICE", "password": PASSWORD})
    assert taken.status_code == 409 and error_of(taken)["code"] == "conflict"
    weak = api.master.post("/users", json={"name": "carol", "password": "short"})
    assert weak.status_code == 422 and error_of(weak)["code"] == "weak_password"
    bad_name = api.master.post("/users", json={"name": "no spaces", "password": PASSWORD})
    assert bad_name.status_code == 400
    bad_role = api.master.post("/users", json={"name": "dave", "password": PASSWORD, "role": "god"})
    assert bad_role.status_code == 400


def test_role_and_disabling_are_an_admins(api: AdminApi) -> None:
    api.create_user("root", role="admin")
    alice_id = api.create_user("alice")
    alice, root = api.log_in("alice"), api.log_in("root")
    for body in ({"role": "admin"}, {"disabled": True}):
        reply = alice.client.patch(f"/users/{alice_id}", json=body, headers=alice.csrf_header)
        assert reply.status_code == 403
    key_id = _key(alice)["record"]["id"]  # type: ignore[index]
    off = root.client.patch(f"/users/{alice_id}", json={"disabled": True}, headers=root.csrf_header)
    assert off.status_code == 200 and off.json()["user"]["disabled"] is True
    assert alice.client.get("/session").status_code == 401  # the session ended with it
    assert root.client.get(f"/keys/{key_id}").json()["suspended"] is True
    last = root.client.patch(
        f"/users/{root.user['id']}", json={"role": "member"}, headers=root.csrf_header
    )
    assert last.status_code == 403  # the last admin stays one


def test_changing_ones_password_ends_the_other_sessions(api: AdminApi) -> None:
    alice_id = api.create_user("alice")
    here, elsewhere = api.log_in("alice"), api.log_in("alice")
    new = "a brand new passphrase"
    path = f"/users/{alice_id}"
    h = here.csrf_header
    missing = here.client.patch(path, json={"password": new}, headers=h)
    assert missing.status_code == 400
    wrong = here.client.patch(path, json={"password": new, "current_password": "nope"}, headers=h)
    assert wrong.status_code == 403 and error_of(wrong)["code"] == "wrong_password"
    weak = here.client.patch(path, json={"password": "x", "current_password": PASSWORD}, headers=h)
    assert weak.status_code == 422
    ok = here.client.patch(path, json={"password": new, "current_password": PASSWORD}, headers=h)
    assert ok.status_code == 200, ok.text
    assert "atlas_session" in ok.headers["set-cookie"]
    assert elsewhere.client.get("/session").status_code == 401
    me = here.client.get("/session")  # the new cookie, from the answer
    assert me.status_code == 200 and me.json()["csrf_token"] == ok.json()["csrf_token"]
    assert api.log_in("alice", new).user["id"] == alice_id


def test_registration_is_404_unless_open(
    api: AdminApi, gateway_factory: Callable[[Settings], RunningGateway]
) -> None:
    closed = api.client().post("/register", json={"name": "eve", "password": PASSWORD})
    assert closed.status_code == 404 and error_of(closed)["code"] == "not_found"
    for open_api in open_admin_api(gateway_factory, admin_settings(open_registration=True)):
        made = open_api.client().post("/register", json={"name": "eve", "password": PASSWORD})
        assert made.status_code == 201 and made.json()["role"] == "member"
        assert open_api.log_in("eve").user["name"] == "eve"
        extra = open_api.client().post(
            "/register", json={"name": "mallory", "password": PASSWORD, "role": "admin"}
        )
        assert extra.status_code == 400  # no choosing one's role


def test_a_member_may_delete_only_themselves(api: AdminApi) -> None:
    alice_id = api.create_user("alice")
    alice = api.log_in("alice")
    _key(alice)
    gone = alice.client.delete(f"/users/{alice_id}", headers=alice.csrf_header)
    assert gone.status_code == 200
    assert alice.client.get("/session").status_code == 401
    assert api.master.get("/keys").json() == {"keys": []}  # the keys went with her
