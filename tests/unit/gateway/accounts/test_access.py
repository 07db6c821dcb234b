"""Object-level authorization: a member's view of keys and users, an admin's view."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from gateway.accounts.access import KeyAccess, Principal, principal_of, visible_user
from gateway.accounts.errors import ForbiddenError, NotFoundError
from gateway.accounts.keys import ApiKeys, KeyRejected
from gateway.accounts.schema import KeyLimits, User
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import PASSWORD

pytestmark = pytest.mark.redis

DEFAULTS = KeyLimits(rpm=60)


@pytest.fixture
def keys(client: aioredis.Redis, prefix: str) -> ApiKeys:
    return ApiKeys(client, prefix, b"s" * 32)


@pytest.fixture
def access(keys: ApiKeys) -> KeyAccess:
    return KeyAccess(keys, default_limits=DEFAULTS)


@pytest.fixture
async def people(users: Users) -> tuple[Principal, Principal, Principal]:
    admin = await users.create("root", PASSWORD, role="admin")
    alice = await users.create("alice", PASSWORD)
    bob = await users.create("bob", PASSWORD)
    return principal_of(admin), principal_of(alice), principal_of(bob)


async def _not_found_text(call: object) -> str:
    with pytest.raises(NotFoundError) as caught:
        await call  # type: ignore[misc]
    return str(caught.value)


async def test_a_member_cannot_see_anothers_key(
    access: KeyAccess, people: tuple[Principal, Principal, Principal]
) -> None:
    _admin, alice, bob = people
    created = await access.create(bob, "bobs")
    # Another's key and a key that does not exist give the same answer.
    theirs = await _not_found_text(access.get(alice, created.record.id))
    nobodys = await _not_found_text(access.get(alice, "f" * 12))
    assert theirs == nobodys.replace("f" * 12, created.record.id)
    await _not_found_text(access.revoke(alice, created.record.id))
    await _not_found_text(access.update(alice, created.record.id, limits=KeyLimits()))
    await _not_found_text(access.list_keys(alice, owner=bob.user_id))
    assert [k.record.id for k in await access.list_keys(bob)] == [created.record.id]
    assert await access.list_keys(alice) == []


async def test_a_member_manages_their_own_keys(
    access: KeyAccess, keys: ApiKeys, people: tuple[Principal, Principal, Principal]
) -> None:
    _admin, alice, bob = people
    created = await access.create(alice, "mine")
    assert created.record.limits == DEFAULTS and created.record.owner == alice.user_id
    assert await access.get(alice, created.record.id) == created.record
    with pytest.raises(ForbiddenError):
        await access.update(alice, created.record.id, limits=KeyLimits())
    with pytest.raises(ForbiddenError):
        await access.create(alice, "unlimited", limits=KeyLimits())
    await _not_found_text(access.create(alice, "for bob", owner=bob.user_id))
    await access.revoke(alice, created.record.id)
    assert await keys.authenticate(created.key) == KeyRejected("revoked")


async def test_an_admin_sees_and_manages_all(
    access: KeyAccess, people: tuple[Principal, Principal, Principal]
) -> None:
    admin, alice, bob = people
    a = await access.create(alice, "a")
    b = await access.create(admin, "b", owner=bob.user_id, limits=KeyLimits(tpm=1), models=["m"])
    assert b.record.owner == bob.user_id and b.record.models == ("m",)
    assert {k.record.id for k in await access.list_keys(admin)} == {a.record.id, b.record.id}
    assert [k.record.id for k in await access.list_keys(admin, owner=alice.user_id)] == [
        a.record.id
    ]
    updated = await access.update(admin, a.record.id, limits=KeyLimits(max_k=2))
    assert updated.limits == KeyLimits(max_k=2)
    assert (await access.revoke(admin, b.record.id)).revoked


async def test_users_visible_to_themselves_and_admins(
    users: Users, people: tuple[Principal, Principal, Principal]
) -> None:
    admin, alice, bob = people
    me: User = await visible_user(users, alice, alice.user_id)
    assert me.name == "alice"
    assert (await visible_user(users, admin, bob.user_id)).name == "bob"
    theirs = await _not_found_text(visible_user(users, alice, bob.user_id))
    nobodys = await _not_found_text(visible_user(users, admin, "0" * 16))
    assert theirs == nobodys.replace("0" * 16, bob.user_id)
    assert admin.is_admin and not alice.is_admin
