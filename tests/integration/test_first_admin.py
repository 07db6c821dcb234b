"""The first start's admin (`[accounts] admin_password_file`, ATLAS_ADMIN_PASSWORD_FILE),
on the session's Redis: created once, never over an existing admin, and a start-up that
stops, naming the file, when it cannot be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config.accounts import AccountsSettings
from gateway.accounts.service import Accounts, open_accounts
from gateway.wiring.first_admin import FirstAdminError, create_configured_admin

pytestmark = [pytest.mark.redis, pytest.mark.timeout(30)]

PASSWORD = "correct horse battery"


@pytest.fixture
async def accounts(redis_url: str) -> AsyncIterator[Accounts]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with open_accounts(client, f"test-{uuid.uuid4().hex}:", AccountsSettings()) as acc:
            yield acc
    finally:
        await client.aclose()


def configured(path: Path, name: str = "admin") -> AccountsSettings:
    return AccountsSettings(admin_password_file=str(path), admin_name=name)


async def test_nothing_is_created_unless_configured(accounts: Accounts) -> None:
    assert await create_configured_admin(accounts, AccountsSettings()) is None
    assert await accounts.users.list_users() == []


async def test_the_admin_is_created_once(accounts: Accounts, tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n")
    user = await create_configured_admin(accounts, configured(path, "Boss"))
    assert user is not None and (user.name, user.role) == ("boss", "admin")
    assert (await accounts.passwords.verify(user.password_hash, PASSWORD)).ok
    path.unlink()  # an admin exists: the file is not read again
    assert await create_configured_admin(accounts, configured(path, "other")) is None
    assert [u.name for u in await accounts.users.list_users()] == ["boss"]


async def test_a_missing_file_or_weak_password_stops_the_start(
    accounts: Accounts, tmp_path: Path
) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(FirstAdminError, match=r"ATLAS_ADMIN_PASSWORD_FILE.*absent"):
        await create_configured_admin(accounts, configured(missing))
    weak = tmp_path / "weak"
    weak.write_text("short\n")
    with pytest.raises(FirstAdminError, match="'admin': a password needs at least 12"):
        await create_configured_admin(accounts, configured(weak))
    assert await accounts.users.list_users() == []
