"""Password policy and argon2id hashing, off the event loop in a bounded pool.

Each hash holds `memory_kib` of memory and a core for tens of milliseconds, so a small
dedicated pool (not the loop's default executor) bounds what a burst of logins costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

import argon2
import msgspec
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from config.accounts import MIN_PASSWORD_CHARS, PasswordHashSettings
from gateway.accounts.errors import WeakPasswordError

# Longer than any passphrase; bounds the work one request can ask of the hasher.
MAX_PASSWORD_CHARS = 1024


def check_password(password: str, *, min_chars: int = MIN_PASSWORD_CHARS) -> None:
    """Raise WeakPasswordError saying what is wrong with a new password."""
    if len(password) < min_chars:
        raise WeakPasswordError(f"a password needs at least {min_chars} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPasswordError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    if password.strip() == "" or len(set(password)) < 3:
        raise WeakPasswordError("a password needs at least three different characters")


def read_password_file(path: Path) -> str:
    """A password from a file (`ATLAS_ADMIN_PASSWORD_FILE`, `--password-file`): its first
    line, without the line ending; spaces inside are kept."""
    return first_line(path.read_text(encoding="utf-8"))


def first_line(text: str) -> str:
    """Up to the first newline (LF or CRLF); other control characters are the password's."""
    return text.split("\n", 1)[0].removesuffix("\r")


class Verified(msgspec.Struct, frozen=True):
    ok: bool
    rehashed: str | None = None  # a new hash when the stored one used other parameters


class Passwords:
    def __init__(self, settings: PasswordHashSettings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
            type=argon2.Type.ID,
        )
        self._pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> Verified:
        """Check a password; rehash it if the stored hash used other parameters."""
        return await self._run(self._verify, stored_hash, password)

    async def waste_time(self, password: str) -> None:
        """As long as a verify, for a user who does not exist: no timing oracle."""
        if self._dummy is None:
            self._dummy = await self.hash("not a password of anyone's")
        await self.verify(self._dummy, password)

    def _verify(self, stored_hash: str, password: str) -> Verified:
        try:
            self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verified(ok=True, rehashed=self._hasher.hash(password))
        return Verified(ok=True)

    async def _run[T](self, fn: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
