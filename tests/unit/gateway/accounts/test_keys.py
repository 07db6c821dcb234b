"""API keys over a real Redis: the format, authentication and its reasons, changes."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.accounts.errors import InvalidNameError, NotFoundError
from gateway.accounts.key_format import KEY_PREFIX, key_digest, parse_key_id
from gateway.accounts.keys import ApiKeys, KeyRejected
from gateway.accounts.schema import ApiKey, KeyLimits, User, api_key_used_key
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import PASSWORD, commands_sent

pytestmark = pytest.mark.redis

SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(client: aioredis.Redis, prefix: str, clock: Clock) -> ApiKeys:
    return ApiKeys(client, prefix, SECRET, clock=clock, touch_interval_s=60)


@pytest.fixture
async def alice(users: Users) -> User:
    return await users.create("alice", PASSWORD)


def _record(result: ApiKey | KeyRejected) -> ApiKey:
    assert isinstance(result, ApiKey), result
    return result


async def test_create_then_authenticate(keys: ApiKeys, alice: User) -> None:
    created = await keys.create(alice.id, "laptop", models=["m1"], limits=KeyLimits(rpm=5))
    key, record = created.key, created.record
    assert key.startswith(KEY_PREFIX) and parse_key_id(key) == record.id
    secret = key.rsplit("-", 1)[1]
    assert len(secret) >= 43 and "-" not in secret and secret.isalnum()
    assert record.owner == alice.id and record.last_four == key[-4:]
    assert record.models == ("m1",) and record.limits == KeyLimits(rpm=5)
    assert record.digest == key_digest(SECRET, key)
    assert _record(await keys.authenticate(key)) == record


async def test_keys_are_distinct(keys: ApiKeys, alice: User) -> None:
    made = [await keys.create(alice.id, f"k{i}") for i in range(5)]
    assert len({m.key for m in made}) == 5 and len({m.record.id for m in made}) == 5


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: "",
        lambda k: k[:-1],
        lambda k: k + "A",
        lambda k: k.replace("sk-llm-", "sk-xxx-"),
        lambda k: k.replace("-", "_"),
        lambda k: k[:-1] + "-",
        lambda k: k[:-1] + "é",
        lambda k: k.upper(),
    ],
)
async def test_malformed_keys(keys: ApiKeys, alice: User, mangle: object) -> None:
    key = (await keys.create(alice.id, "k")).key
    assert callable(mangle)
    assert await keys.authenticate(mangle(key)) == KeyRejected("malformed")


async def test_a_valid_id_with_a_wrong_secret_is_unknown(keys: ApiKeys, alice: User) -> None:
    key = (await keys.create(alice.id, "k")).key
    head, secret = key.rsplit("-", 1)
    flipped = ("B" if secret[0] == "A" else "A") + secret[1:]
    assert parse_key_id(f"{head}-{flipped}") is not None  # well-formed, right id
    assert await keys.authenticate(f"{head}-{flipped}") == KeyRejected("unknown")


async def test_a_key_under_another_server_secret_is_unknown(
    keys: ApiKeys, client: aioredis.Redis, prefix: str, alice: User
) -> None:
    key = (await keys.create(alice.id, "k")).key
    other = ApiKeys(client, prefix, b"o" * 32)
    assert await other.authenticate(key) == KeyRejected("unknown")


async def test_revoked(keys: ApiKeys, alice: User, clock: Clock) -> None:
    created = await keys.create(alice.id, "k")
    revoked = await keys.revoke(created.record.id)
    assert revoked.revoked and revoked.revoked_at == clock.now
    assert await keys.authenticate(created.key) == KeyRejected("revoked")
    assert (await keys.revoke(created.record.id)).revoked_at == clock.now  # idempotent
    with pytest.raises(NotFoundError):
        await keys.revoke("0" * 12)


async def test_expired(keys: ApiKeys, alice: User, clock: Clock) -> None:
    created = await keys.create(alice.id, "k", expires_at=clock.now + 10)
    assert isinstance(await keys.authenticate(created.key), ApiKey)
    clock.now += 10
    assert await keys.authenticate(created.key) == KeyRejected("expired")
    with pytest.raises(ValueError, match="past"):
        await keys.create(alice.id, "k", expires_at=clock.now - 1)


async def test_only_hashes_at_rest(
    keys: ApiKeys, client: aioredis.Redis, prefix: str, alice: User
) -> None:
    created = await keys.create(alice.id, "k")
    secret = created.key.rsplit("-", 1)[1].encode()
    await keys.touch(created.record)
    dump = b""
    async for name in client.scan_iter(match=f"{prefix}*"):
        dump += name
        kind = await client.type(name)
        if kind == b"string":
            dump += await client.get(name) or b""
        elif kind == b"set":
            dump += b"".join(await client.smembers(name))  # type: ignore[misc]
        elif kind == b"hash":
            for f, v in (await client.hgetall(name)).items():  # type: ignore[misc]
                dump += f + v
    assert created.record.id.encode() in dump  # the scan does see the key's records
    assert secret not in dump and secret[:16] not in dump and created.key.encode() not in dump


async def test_a_disabled_owner_gets_no_key(keys: ApiKeys, users: Users) -> None:
    root = await users.create("root", PASSWORD, role="admin")
    bob = await users.create("bob", PASSWORD)
    await users.set_disabled(bob.id, True)
    with pytest.raises(NotFoundError):
        await keys.create(bob.id, "k")
    with pytest.raises(NotFoundError):
        await keys.create("0" * 16, "k")
    with pytest.raises(InvalidNameError):
        await keys.create(root.id, "")


async def test_list_one_users_or_all(keys: ApiKeys, users: Users, clock: Clock) -> None:
    alice = await users.create("alice", PASSWORD)
    bob = await users.create("bob", PASSWORD)
    a1 = await keys.create(alice.id, "a1")
    clock.now += 1
    a2 = await keys.create(alice.id, "a2")
    clock.now += 1
    b1 = await keys.create(bob.id, "b1")
    assert [k.record for k in await keys.list_keys(alice.id)] == [a2.record, a1.record]
    assert [k.record.id for k in await keys.list_keys()] == [
        b1.record.id,
        a2.record.id,
        a1.record.id,
    ]
    assert await keys.list_keys("0" * 16) == []
    assert all(k.last_used_at is None for k in await keys.list_keys())


async def test_touch_writes_at_most_once_per_interval(
    keys: ApiKeys, client: aioredis.Redis, prefix: str, alice: User, clock: Clock
) -> None:
    record = (await keys.create(alice.id, "k")).record
    assert await keys.touch(record)
    first = clock.now
    clock.now += 30
    assert not await keys.touch(record)
    assert float(await client.hget(api_key_used_key(prefix), record.id) or 0) == first
    clock.now += 30
    assert await keys.touch(record)
    [listed] = await keys.list_keys(alice.id)
    assert listed.last_used_at == clock.now


async def test_update_limits_models_name_expiry(keys: ApiKeys, alice: User, clock: Clock) -> None:
    created = await keys.create(alice.id, "k", models=["a"])
    key_id = created.record.id
    updated = await keys.update(key_id, limits=KeyLimits(tpm=100, max_k=3))
    assert updated.limits == KeyLimits(tpm=100, max_k=3) and updated.models == ("a",)
    updated = await keys.update(key_id, models=None, name="renamed", expires_at=clock.now + 5)
    assert updated.models is None and updated.name == "renamed"
    assert await keys.get(key_id) == updated
    assert _record(await keys.authenticate(created.key)) == updated
    with pytest.raises(NotFoundError):
        await keys.update("0" * 12, limits=KeyLimits())


async def test_suspend_and_remove_an_owners_keys(keys: ApiKeys, alice: User) -> None:
    first = await keys.create(alice.id, "one")
    second = await keys.create(alice.id, "two")
    assert await keys.set_owner_suspended(alice.id, True) == 2
    assert await keys.authenticate(first.key) == KeyRejected("suspended")
    assert await keys.set_owner_suspended(alice.id, False) == 2
    assert isinstance(await keys.authenticate(second.key), ApiKey)
    assert await keys.remove_owner(alice.id) == 2
    assert await keys.authenticate(first.key) == KeyRejected("unknown")
    assert await keys.list_keys() == []
    with pytest.raises(NotFoundError):
        await keys.get(first.record.id)


async def test_models_must_be_a_list(keys: ApiKeys, alice: User) -> None:
    with pytest.raises(TypeError, match="list of model names"):
        await keys.create(alice.id, "k", models="gpt")
    created = await keys.create(alice.id, "k", models=[])
    assert created.record.models == ()
    with pytest.raises(TypeError):
        await keys.update(created.record.id, models="gpt")


async def test_authentication_is_one_command(
    keys: ApiKeys, client: aioredis.Redis, alice: User
) -> None:
    created = await keys.create(alice.id, "k")
    assert await commands_sent(client, asyncio.sleep(0)) == 0  # the count is exact
    assert await commands_sent(client, keys.authenticate(created.key)) == 1
    assert await commands_sent(client, keys.authenticate(created.key[:-1] + "x")) == 1
    assert await commands_sent(client, keys.authenticate("sk-llm-nonsense")) == 0
