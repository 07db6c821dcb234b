"""The accounts as one: opened over Redis, the operations that span their parts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config.accounts import AccountsSettings
from gateway.accounts import (
    Accounts,
    ApiKey,
    KeyRejected,
    RegistrationClosedError,
    SchemaError,
    SessionClaims,
    SessionRejected,
    open_accounts,
)
from gateway.accounts.schema import SCHEMA_VERSION, schema_key
from tests.unit.gateway.accounts.conftest import MIN_HASH, PASSWORD

pytestmark = pytest.mark.redis

SETTINGS = AccountsSettings(passwords=MIN_HASH)


@pytest.fixture
async def accounts(client: aioredis.Redis, prefix: str) -> AsyncIterator[Accounts]:
    async with open_accounts(client, prefix, SETTINGS) as opened:
        yield opened


async def test_first_start_creates_the_admin_once(
    accounts: Accounts, client: aioredis.Redis, prefix: str
) -> None:
    assert await client.get(schema_key(prefix)) == str(SCHEMA_VERSION).encode()
    admin = await accounts.ensure_first_admin("root", PASSWORD)
    assert admin is not None and admin.role == "admin"
    assert await accounts.ensure_first_admin("root", PASSWORD) is None
    assert await accounts.ensure_first_admin("other", PASSWORD) is None


async def test_log_in_then_session_then_log_out(accounts: Accounts) -> None:
    await accounts.ensure_first_admin("root", PASSWORD)
    user, session = await accounts.log_in("root", PASSWORD, "127.0.0.1")
    found = await accounts.session_user(session.token)
    assert not isinstance(found, SessionRejected)
    assert found[0] == user and found[1] == session.claims
    await accounts.sessions.revoke(session.claims)
    assert await accounts.session_user(session.token) == SessionRejected("revoked", "logged out")


async def test_disabling_a_user_stops_keys_and_sessions(accounts: Accounts) -> None:
    await accounts.ensure_first_admin("root", PASSWORD)
    member = await accounts.users.create("mia", PASSWORD)
    created = await accounts.keys.create(member.id, "k")
    assert isinstance(await accounts.keys.authenticate(created.key), ApiKey)  # now cached
    _, session = await accounts.log_in("mia", PASSWORD, None)
    await accounts.set_disabled(member.id, True)
    assert await accounts.keys.authenticate(created.key) == KeyRejected("suspended")
    assert isinstance(await accounts.session_user(session.token), SessionRejected)
    await accounts.set_disabled(member.id, False)
    assert isinstance(await accounts.keys.authenticate(created.key), ApiKey)
    # Sessions from before the disabling stay void; a new login works.
    assert isinstance(await accounts.session_user(session.token), SessionRejected)
    _, fresh = await accounts.log_in("mia", PASSWORD, None)
    assert isinstance(await accounts.sessions.verify(fresh.token), SessionClaims)


async def test_deleting_a_user_deletes_their_keys(accounts: Accounts) -> None:
    await accounts.ensure_first_admin("root", PASSWORD)
    member = await accounts.users.create("mia", PASSWORD)
    created = await accounts.keys.create(member.id, "k")
    _, session = await accounts.log_in("mia", PASSWORD, None)
    await accounts.delete_user(member.id)
    assert await accounts.keys.authenticate(created.key) == KeyRejected("unknown")
    assert await accounts.keys.list_keys() == []
    assert await accounts.session_user(session.token) == SessionRejected(
        "revoked", "the user no longer exists"
    )


async def test_change_password_ends_sessions(accounts: Accounts) -> None:
    user = await accounts.users.create("mia", PASSWORD)
    _, session = await accounts.log_in("mia", PASSWORD, None)
    await accounts.users.change_password(user.id, "a brand new passphrase")
    assert isinstance(await accounts.session_user(session.token), SessionRejected)
    _, fresh = await accounts.log_in("mia", "a brand new passphrase", None)
    assert not isinstance(await accounts.session_user(fresh.token), SessionRejected)


async def test_registration_follows_the_setting(client: aioredis.Redis, prefix: str) -> None:
    async with open_accounts(client, prefix, SETTINGS) as closed:
        with pytest.raises(RegistrationClosedError):
            await closed.register("sam", PASSWORD)
    opened_settings = AccountsSettings(passwords=MIN_HASH, open_registration=True)
    async with open_accounts(client, prefix, opened_settings) as opened:
        assert (await opened.register("sam", PASSWORD)).role == "member"


async def test_two_replicas_share_secrets_and_see_revocations(
    client: aioredis.Redis, other_client: aioredis.Redis, prefix: str
) -> None:
    async with (
        open_accounts(client, prefix, SETTINGS) as a,
        open_accounts(other_client, prefix, SETTINGS) as b,
    ):
        user = await a.users.create("mia", PASSWORD)
        created = await a.keys.create(user.id, "k")
        assert isinstance(await b.keys.authenticate(created.key), ApiKey)
        _, session = await a.log_in("mia", PASSWORD, None)
        assert isinstance(await b.sessions.verify(session.token), SessionClaims)
        await a.keys.revoke(created.record.id)
        for _ in range(200):
            if await b.keys.authenticate(created.key) == KeyRejected("revoked"):
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("replica b still accepts a revoked key")


async def test_opening_refuses_newer_data(client: aioredis.Redis, prefix: str) -> None:
    await client.set(schema_key(prefix), str(SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError):
        async with open_accounts(client, prefix, SETTINGS):
            pass
