"""Password login with throttling per account and per address, and rehash on login."""

from __future__ import annotations

import asyncio

import argon2
import pytest
import redis.asyncio as aioredis

from config.accounts import PasswordHashSettings, ThrottleSettings
from gateway.accounts.errors import InvalidCredentialsError, LoginThrottledError
from gateway.accounts.logins import Logins
from gateway.accounts.passwords import Passwords
from gateway.accounts.schema import login_failures_key
from gateway.accounts.throttle import LoginThrottle
from gateway.accounts.users import Users
from tests.unit.gateway.accounts.conftest import PASSWORD

pytestmark = pytest.mark.redis

THROTTLE = ThrottleSettings(account_failures=3, address_failures=5, window_s=60)


@pytest.fixture
def throttle(client: aioredis.Redis, prefix: str) -> LoginThrottle:
    return LoginThrottle(client, prefix, THROTTLE)


@pytest.fixture
def logins(users: Users, passwords: Passwords, throttle: LoginThrottle) -> Logins:
    return Logins(users, passwords, throttle)


async def test_the_right_password_logs_in(users: Users, logins: Logins) -> None:
    user = await users.create("lee", PASSWORD)
    assert await logins.log_in("Lee", PASSWORD, "10.0.0.1") == user


@pytest.mark.parametrize(("name", "password"), [("lee", "wrong password"), ("nobody", PASSWORD)])
async def test_wrong_name_or_password_get_one_answer(
    users: Users, logins: Logins, name: str, password: str
) -> None:
    await users.create("lee", PASSWORD)
    with pytest.raises(InvalidCredentialsError, match="invalid user name or password"):
        await logins.log_in(name, password, "10.0.0.1")


async def test_a_disabled_user_cannot_log_in(users: Users, logins: Logins) -> None:
    await users.create("root", PASSWORD, role="admin")
    lee = await users.create("lee", PASSWORD)
    await users.set_disabled(lee.id, True)
    with pytest.raises(InvalidCredentialsError):
        await logins.log_in("lee", PASSWORD, None)


async def test_the_account_locks_then_recovers(
    users: Users, passwords: Passwords, client: aioredis.Redis, prefix: str
) -> None:
    throttle = LoginThrottle(client, prefix, ThrottleSettings(account_failures=3, window_s=1))
    logins = Logins(users, passwords, throttle)
    await users.create("lee", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            await logins.log_in("lee", "wrong password", "10.0.0.1")
    with pytest.raises(LoginThrottledError) as locked:
        await logins.log_in("lee", PASSWORD, "10.0.0.2")  # the right password, another address
    assert locked.value.scope == "account" and locked.value.retry_after_s == 1
    assert "retry in 1 s" in str(locked.value)
    await asyncio.sleep(1.05)
    assert (await logins.log_in("lee", PASSWORD, "10.0.0.2")).name == "lee"


async def test_the_lockout_tells_the_time_left(
    users: Users, logins: Logins, client: aioredis.Redis, prefix: str
) -> None:
    await users.create("lee", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            await logins.log_in("lee", "wrong password", "10.0.0.1")
    with pytest.raises(LoginThrottledError) as locked:
        await logins.log_in("lee", "wrong password", "10.0.0.1")
    assert 59 <= locked.value.retry_after_s <= 60


async def test_a_success_resets_the_account_counter(users: Users, logins: Logins) -> None:
    await users.create("lee", PASSWORD)
    for _round in range(3):
        for _ in range(2):
            with pytest.raises(InvalidCredentialsError):
                await logins.log_in("lee", "wrong password", f"10.0.0.{_round}")
        await logins.log_in("lee", PASSWORD, f"10.0.0.{_round}")  # never reaches 3 in a row


async def test_the_address_locks_across_accounts(users: Users, logins: Logins) -> None:
    await users.create("lee", PASSWORD)
    for i in range(5):  # five names, one failure each: no account is near its limit
        with pytest.raises(InvalidCredentialsError):
            await logins.log_in(f"guess{i}", "wrong password", "203.0.113.9")
    with pytest.raises(LoginThrottledError) as locked:
        await logins.log_in("lee", PASSWORD, "203.0.113.9")
    assert locked.value.scope == "address"
    assert (await logins.log_in("lee", PASSWORD, "203.0.113.10")).name == "lee"


async def test_login_rehashes_when_the_costs_rose(
    users: Users, client: aioredis.Redis, prefix: str, throttle: LoginThrottle
) -> None:
    user = await users.create("lee", PASSWORD)
    assert argon2.extract_parameters(user.password_hash).time_cost == 2
    async with Passwords(PasswordHashSettings(time_cost=3, threads=1)) as stronger:
        logins = Logins(Users(client, prefix, stronger), stronger, throttle)
        await logins.log_in("lee", PASSWORD, None)
        rehashed = (await users.get(user.id)).password_hash
        assert rehashed != user.password_hash
        assert argon2.extract_parameters(rehashed).time_cost == 3
        await logins.log_in("lee", PASSWORD, None)  # the new hash verifies, and stays
        assert (await users.get(user.id)).password_hash == rehashed


async def test_a_failed_login_does_not_rehash(
    users: Users, client: aioredis.Redis, prefix: str, throttle: LoginThrottle
) -> None:
    user = await users.create("lee", PASSWORD)
    async with Passwords(PasswordHashSettings(time_cost=3, threads=1)) as stronger:
        logins = Logins(Users(client, prefix, stronger), stronger, throttle)
        with pytest.raises(InvalidCredentialsError):
            await logins.log_in("lee", "wrong password", None)
    assert (await users.get(user.id)).password_hash == user.password_hash


async def test_later_failures_do_not_stretch_the_window(
    client: aioredis.Redis, prefix: str
) -> None:
    throttle = LoginThrottle(client, prefix, ThrottleSettings(window_s=2))
    await throttle.failed("lee", None)
    await asyncio.sleep(1.1)
    await throttle.failed("lee", None)
    key = login_failures_key(prefix, "account", "lee")
    assert await client.get(key) == b"2"
    assert 0 < await client.pttl(key) <= 900
