"""Password policy and argon2id hashing in the bounded pool."""

from __future__ import annotations

import asyncio
from pathlib import Path

import argon2
import pytest

from config.accounts import PasswordHashSettings
from gateway.accounts.errors import WeakPasswordError
from gateway.accounts.passwords import Passwords, Verified, check_password, read_password_file
from tests.unit.gateway.accounts.conftest import PASSWORD


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 12 characters"),
        ("short pass", "at least 12 characters"),
        ("x" * 1025, "at most 1024"),
        (" " * 20, "three different"),
        ("abababababab", "three different"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, message: str) -> None:
    with pytest.raises(WeakPasswordError, match=message):
        check_password(password)


def test_a_good_password_passes() -> None:
    check_password(PASSWORD)
    check_password("twelve chars")


@pytest.mark.parametrize(
    ("field", "value"), [("memory_kib", 19 * 1024 - 1), ("time_cost", 1), ("threads", 0)]
)
def test_costs_below_owasp_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        PasswordHashSettings(**{field: value})


async def test_hash_is_argon2id_with_the_configured_costs(passwords: Passwords) -> None:
    stored = await passwords.hash(PASSWORD)
    params = argon2.extract_parameters(stored)
    assert params.type is argon2.Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19456, 2, 1)
    assert await passwords.verify(stored, PASSWORD) == Verified(ok=True)
    assert not (await passwords.verify(stored, PASSWORD + "!")).ok
    assert not (await passwords.verify("not a hash", PASSWORD)).ok


async def test_verify_rehashes_when_the_costs_changed(passwords: Passwords) -> None:
    stored = await passwords.hash(PASSWORD)
    async with Passwords(PasswordHashSettings(time_cost=3, threads=1)) as stronger:
        verified = await stronger.verify(stored, PASSWORD)
        assert verified.ok and verified.rehashed is not None
        assert argon2.extract_parameters(verified.rehashed).time_cost == 3
        assert (await stronger.verify(verified.rehashed, PASSWORD)).rehashed is None
        # A wrong password never yields a new hash.
        assert await stronger.verify(stored, "wrong password!") == Verified(ok=False)


async def test_hashing_leaves_the_event_loop_free(passwords: Passwords) -> None:
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0.002)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(passwords.hash(PASSWORD) for _ in range(6)))
    stop = True
    await task
    # On the loop the ticker runs once or twice (measured: 1); off it, all along (about 50).
    assert ticks >= 10


def test_a_password_file_gives_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "admin-password"
    path.write_text("  spaces kept inside  \r\n")
    assert read_password_file(path) == "  spaces kept inside  "
    path.write_text("no newline")
    assert read_password_file(path) == "no newline"
    path.write_text("first\tline\x0c\nsecond line\n")
    assert read_password_file(path) == "first\tline\x0c"
    path.write_text("")
    assert read_password_file(path) == ""
