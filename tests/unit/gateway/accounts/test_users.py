"""Users over a real Redis: unique names, the first admin, roles, disabling, passwords."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.accounts.errors import (
    AdminExistsError,
    ForbiddenError,
    InvalidNameError,
    NotFoundError,
    RegistrationClosedError,
    UserExistsError,
    WeakPasswordError,
)
from gateway.accounts.passwords import Passwords
from gateway.accounts.schema import sessions_not_before_key
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import PASSWORD

pytestmark = pytest.mark.redis


async def test_create_get_find_list(users: Users) -> None:
    alice = await users.create(" Alice ", PASSWORD)
    bob = await users.create("bob", PASSWORD, role="admin")
    assert alice.name == "alice" and alice.role == "member" and not alice.disabled
    assert await users.get(alice.id) == alice
    assert await users.find("ALICE") == alice
    assert await users.find("nobody") is None
    assert await users.find("not a valid name!") is None
    assert [u.name for u in await users.list_users()] == ["alice", "bob"]
    assert await users.has_admin() and bob.role == "admin"
    assert PASSWORD not in alice.password_hash
    with pytest.raises(NotFoundError):
        await users.get("0" * 16)


async def test_names_are_unique_ignoring_case(users: Users) -> None:
    await users.create("carol", PASSWORD)
    with pytest.raises(UserExistsError):
        await users.create("Carol", PASSWORD)


@pytest.mark.parametrize("name", ["", "-dash", "a" * 65, "sp ace", "semi;colon", "ünï"])
async def test_bad_names_are_refused(users: Users, name: str) -> None:
    with pytest.raises(InvalidNameError):
        await users.create(name, PASSWORD)


async def test_a_weak_password_is_refused_before_anything_is_written(
    users: Users, client: aioredis.Redis, prefix: str
) -> None:
    with pytest.raises(WeakPasswordError, match="12 characters"):
        await users.create("dave", "short")
    assert await client.keys(f"{prefix}*") == []


async def test_concurrent_creation_of_one_name_has_one_winner(
    redis_url: str, prefix: str, passwords: Passwords
) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(8)]
    try:
        replicas = [Users(c, prefix, passwords) for c in clients]
        results = await asyncio.gather(
            *(r.create("eve", f"{PASSWORD} {i}") for i, r in enumerate(replicas)),
            return_exceptions=True,
        )
        stored = await replicas[0].list_users()
    finally:
        for c in clients:
            await c.aclose()
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and stored == winners
    assert sum(isinstance(r, UserExistsError) for r in results) == 7


async def test_first_admin_race_has_one_winner(
    redis_url: str, prefix: str, passwords: Passwords
) -> None:
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(6)]
    try:
        replicas = [Users(c, prefix, passwords) for c in clients]
        results = await asyncio.gather(
            *(r.create_first_admin(f"admin{i}", PASSWORD) for i, r in enumerate(replicas)),
            return_exceptions=True,
        )
        admins = [u for u in await replicas[0].list_users() if u.role == "admin"]
    finally:
        for c in clients:
            await c.aclose()
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and admins == winners
    assert sum(isinstance(r, AdminExistsError) for r in results) == 5


async def test_first_admin_is_refused_once_an_admin_exists(users: Users) -> None:
    await users.create("root", PASSWORD, role="admin")
    with pytest.raises(AdminExistsError):
        await users.create_first_admin("second", PASSWORD)


async def test_registration_follows_the_switch(users: Users) -> None:
    with pytest.raises(RegistrationClosedError):
        await users.register("frank", PASSWORD, open_registration=False)
    assert await users.find("frank") is None
    frank = await users.register("frank", PASSWORD, open_registration=True)
    assert frank.role == "member"


async def test_disable_and_enable(users: Users) -> None:
    await users.create("root", PASSWORD, role="admin")
    grace = await users.create("grace", PASSWORD)
    disabled = await users.set_disabled(grace.id, True)
    assert disabled.disabled and disabled.disabled_at is not None
    assert (await users.get(grace.id)).disabled
    enabled = await users.set_disabled(grace.id, False)
    assert not enabled.disabled and enabled.disabled_at is None


async def test_the_last_enabled_admin_stays(users: Users) -> None:
    root = await users.create("root", PASSWORD, role="admin")
    for attempt in (
        users.set_disabled(root.id, True),
        users.set_role(root.id, "member"),
        users.delete(root.id),
    ):
        with pytest.raises(ForbiddenError, match="last enabled admin"):
            await attempt
    second = await users.create("second", PASSWORD, role="admin")
    await users.set_disabled(root.id, True)  # another admin remains
    assert await users.has_admin()
    with pytest.raises(ForbiddenError):  # a disabled admin does not count
        await users.set_disabled(second.id, True)
    await users.set_disabled(root.id, False)
    demoted = await users.set_role(second.id, "member")
    assert demoted.role == "member"
    await users.set_role(demoted.id, "admin")
    await users.delete(root.id)
    assert [u.name for u in await users.list_users()] == ["second"]


async def test_delete_frees_the_name(users: Users, client: aioredis.Redis, prefix: str) -> None:
    heidi = await users.create("heidi", PASSWORD)
    await users.delete(heidi.id)
    with pytest.raises(NotFoundError):
        await users.get(heidi.id)
    with pytest.raises(NotFoundError):
        await users.delete(heidi.id)
    assert await users.find("heidi") is None
    again = await users.create("heidi", PASSWORD)
    assert again.id != heidi.id


async def test_change_password(
    users: Users, passwords: Passwords, client: aioredis.Redis, prefix: str
) -> None:
    ivan = await users.create("ivan", PASSWORD)
    changed = await users.change_password(ivan.id, "a new long passphrase")
    assert changed.password_hash != ivan.password_hash
    assert changed.password_changed_at >= ivan.password_changed_at
    assert (await passwords.verify(changed.password_hash, "a new long passphrase")).ok
    assert not (await passwords.verify(changed.password_hash, PASSWORD)).ok
    not_before = await client.get(sessions_not_before_key(prefix, ivan.id))
    assert not_before is not None and int(not_before) >= int(ivan.created_at * 1_000_000)
    with pytest.raises(WeakPasswordError):
        await users.change_password(ivan.id, "short")
    with pytest.raises(NotFoundError):
        await users.change_password("0" * 16, "a new long passphrase")


async def test_replace_hash_only_over_the_hash_it_read(users: Users, passwords: Passwords) -> None:
    judy = await users.create("judy", PASSWORD)
    new_hash = await passwords.hash(PASSWORD)
    assert not await users.replace_hash(judy.id, "some other hash", new_hash)
    assert (await users.get(judy.id)).password_hash == judy.password_hash
    assert await users.replace_hash(judy.id, judy.password_hash, new_hash)
    assert (await users.get(judy.id)).password_hash == new_hash


async def test_roles_are_checked(users: Users) -> None:
    with pytest.raises(ValueError, match="role must be one of admin, member"):
        await users.create("olga", PASSWORD, role="owner")  # type: ignore[arg-type]
    olga = await users.create("olga", PASSWORD)
    with pytest.raises(ValueError):
        await users.set_role(olga.id, "root")  # type: ignore[arg-type]


async def test_disabling_twice_keeps_the_first_time(users: Users) -> None:
    pat = await users.create("pat", PASSWORD)
    first = await users.set_disabled(pat.id, True)
    assert (await users.set_disabled(pat.id, True)).disabled_at == first.disabled_at


async def test_no_password_at_rest(users: Users, client: aioredis.Redis, prefix: str) -> None:
    await users.create("quinn", PASSWORD, role="admin")
    names = [name async for name in client.scan_iter(f"{prefix}*")]
    assert len(names) == 4  # user, name index, users, admins
    values = [
        await client.get(n)
        if await client.type(n) == b"string"
        else b"".join(await client.smembers(n))  # type: ignore[misc]
        for n in names
    ]
    assert not any(PASSWORD.encode() in v for v in values)
    assert any(b"$argon2id$" in v for v in values)
