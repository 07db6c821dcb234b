"""Users and API keys made in a running gateway's accounts, as an admin would make them:
a client of its own on the gateway's Redis and prefix (so a revocation reaches the
gateway's key cache over pub/sub, as it would from another process)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from config import Settings
from gateway.accounts.keys import CreatedKey
from gateway.accounts.schema import KeyLimits
from gateway.accounts.service import Accounts, open_accounts
from gateway.accounts.usage_read import UsageCounts, UsageReader, sum_counts
from gateway.wiring.redis_store import open_store

T = TypeVar("T")
PASSWORD = "correct horse battery staple"


class KeyAdmin:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def run(self, op: Callable[[Accounts], Awaitable[T]]) -> T:
        async def go() -> T:
            async with (
                open_store(self._settings.redis, role="command") as store,
                open_accounts(store.redis, store.prefix, self._settings.accounts) as accounts,
            ):
                return await op(accounts)

        return asyncio.run(go())

    def key(
        self,
        *,
        models: list[str] | None = None,
        expires_in_s: float | None = None,
        **limits: Any,
    ) -> CreatedKey:
        """A new member with one key (limits: KeyLimits' fields)."""

        async def make(accounts: Accounts) -> CreatedKey:
            user = await accounts.users.create(f"user-{uuid.uuid4().hex[:8]}", PASSWORD)
            expires_at = None if expires_in_s is None else time.time() + expires_in_s
            return await accounts.keys.create(
                user.id,
                "test key",
                expires_at=expires_at,
                models=models,
                limits=KeyLimits(**limits),
            )

        return self.run(make)

    def revoke(self, key_id: str) -> None:
        async def revoke(accounts: Accounts) -> None:
            await accounts.keys.revoke(key_id)

        self.run(revoke)

    def disable_owner(self, created: CreatedKey) -> None:
        async def disable(accounts: Accounts) -> None:
            await accounts.set_disabled(created.record.owner, True)

        self.run(disable)

    def usage(self, key_id: str) -> UsageCounts:
        """All-time usage of one key (or of "master", "anonymous"), as flushed so far."""

        async def read() -> UsageCounts:
            async with open_store(self._settings.redis, role="command") as store:
                reader = UsageReader(store.redis, prefix=store.prefix)
                return sum_counts(await reader.totals(key_id=key_id))

        return asyncio.run(read())
