"""Password login: throttled, timing-blind to unknown names, rehashing when costs rose.

The counters are checked before the hash and raised after it, so a burst of concurrent
guesses can pass the check together; the hashing pool's size bounds that overshoot.
"""

from __future__ import annotations

from gateway.accounts.errors import InvalidCredentialsError
from gateway.accounts.passwords import Passwords
from gateway.accounts.schema import User
from gateway.accounts.throttle import LoginThrottle
from gateway.accounts.users import Users

# Counters are keyed by the typed name, bounded so a long one cannot make a huge key.
_MAX_ACCOUNT_CHARS = 64


class Logins:
    def __init__(self, users: Users, passwords: Passwords, throttle: LoginThrottle) -> None:
        self._users = users
        self._passwords = passwords
        self._throttle = throttle

    async def log_in(self, name: str, password: str, address: str | None) -> User:
        """The user, or InvalidCredentialsError / LoginThrottledError (with its wait)."""
        account = name.strip().lower()[:_MAX_ACCOUNT_CHARS]
        await self._throttle.check(account, address)
        user = await self._users.find(name)
        if user is None:
            await self._passwords.waste_time(password)
            await self._throttle.failed(account, address)
            raise InvalidCredentialsError()
        verified = await self._passwords.verify(user.password_hash, password)
        if not verified.ok:
            await self._throttle.failed(account, address)
            raise InvalidCredentialsError()
        if user.disabled:
            raise InvalidCredentialsError()  # the right password: not counted as a guess
        if verified.rehashed is not None:
            await self._users.replace_hash(user.id, user.password_hash, verified.rehashed)
        await self._throttle.succeeded(account)
        return user
