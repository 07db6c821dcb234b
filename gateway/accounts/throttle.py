"""Failed-login counters per account and per client address, each with a fixed window.

The window opens at the first failure (SET NX EX) and the counter dies with it, so a
lockout ends by itself; the answer says how long is left. A successful login clears the
account's counter but not the address's, so one good account cannot launder an
address's guesses at others.
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from config.accounts import ThrottleSettings
from gateway.accounts.errors import LoginThrottledError
from gateway.accounts.schema import ThrottleScope, login_failures_key


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, prefix: str, settings: ThrottleSettings) -> None:
        self._redis = redis
        self._prefix = prefix
        self._settings = settings

    async def check(self, account: str, address: str | None) -> None:
        """Raise LoginThrottledError if the account or the address is locked out."""
        subjects = self._subjects(account, address)
        async with self._redis.pipeline(transaction=False) as pipe:
            for _scope, key, _limit in subjects:
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
        for i, (scope, _key, limit) in enumerate(subjects):
            count, pttl = replies[2 * i], replies[2 * i + 1]
            if count is not None and int(count) >= limit:
                wait_ms = pttl if pttl > 0 else self._settings.window_s * 1000
                raise LoginThrottledError(scope, max(1, math.ceil(wait_ms / 1000)))

    async def failed(self, account: str, address: str | None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for _scope, key, _limit in self._subjects(account, address):
                # The first failure opens the window; INCR keeps its expiry (any Redis 6+).
                pipe.set(key, 0, ex=self._settings.window_s, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, account: str) -> None:
        await self._redis.delete(login_failures_key(self._prefix, "account", account))

    def _subjects(self, account: str, address: str | None) -> list[tuple[ThrottleScope, str, int]]:
        found: list[tuple[ThrottleScope, str, int]] = [
            (
                "account",
                login_failures_key(self._prefix, "account", account),
                self._settings.account_failures,
            )
        ]
        if address is not None:
            found.append(
                (
                    "address",
                    login_failures_key(self._prefix, "address", address),
                    self._settings.address_failures,
                )
            )
        return found
