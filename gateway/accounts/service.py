"""The accounts as one object: built over a Redis client, opened and closed as a unit.

`open_accounts` checks the schema version, loads (or creates) the server secrets, starts
the key cache's listener and the hashing pool, and closes them on the way out. The few
operations that span two parts (disabling a user suspends their keys; a login issues a
session) are here; everything else is on the parts themselves.

Spanning operations write the user first, then the keys: a crash between the two leaves
a disabled user's keys working (or a deleted user's keys behind); running the same
operation again completes it, as every step is idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis

from config.accounts import AccountsSettings
from gateway.accounts.access import KeyAccess
from gateway.accounts.errors import AdminExistsError, NotFoundError
from gateway.accounts.key_cache import KeyCache
from gateway.accounts.keys import ApiKeys
from gateway.accounts.logins import Logins
from gateway.accounts.passwords import Passwords
from gateway.accounts.schema import User
from gateway.accounts.server_secrets import load_secrets
from gateway.accounts.sessions import IssuedSession, SessionClaims, SessionRejected, Sessions
from gateway.accounts.store import ensure_schema
from gateway.accounts.throttle import LoginThrottle
from gateway.accounts.users import Users


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounts:
    settings: AccountsSettings
    users: Users
    keys: ApiKeys
    key_access: KeyAccess
    sessions: Sessions
    logins: Logins
    throttle: LoginThrottle
    passwords: Passwords

    async def log_in(
        self, name: str, password: str, address: str | None
    ) -> tuple[User, IssuedSession]:
        user = await self.logins.log_in(name, password, address)
        return user, self.sessions.issue(user.id)

    async def session_user(self, token: str) -> tuple[User, SessionClaims] | SessionRejected:
        """The enabled user behind a session token, or why there is none."""
        claims = await self.sessions.verify(token)
        if isinstance(claims, SessionRejected):
            return claims
        try:
            user = await self.users.get(claims.sub)
        except NotFoundError:
            return SessionRejected("revoked", "the user no longer exists")
        if user.disabled:
            return SessionRejected("revoked", "the user is disabled")
        return user, claims

    async def register(self, name: str, password: str) -> User:
        return await self.users.register(
            name, password, open_registration=self.settings.open_registration
        )

    async def ensure_first_admin(self, name: str, password: str) -> User | None:
        """The admin created from `ATLAS_ADMIN_PASSWORD_FILE`, or None if one exists."""
        try:
            return await self.users.create_first_admin(name, password)
        except AdminExistsError:
            return None

    async def set_disabled(self, user_id: str, disabled: bool) -> User:
        """Disable (or enable) a user: their sessions end, their keys stop (or resume)."""
        user = await self.users.set_disabled(user_id, disabled)
        await self.keys.set_owner_suspended(user_id, disabled)
        if disabled:
            await self.sessions.revoke_all(user_id)
        return user

    async def delete_user(self, user_id: str) -> User:
        user = await self.users.delete(user_id)
        await self.keys.remove_owner(user_id)
        return user


@asynccontextmanager
async def open_accounts(
    redis: aioredis.Redis, prefix: str, settings: AccountsSettings
) -> AsyncIterator[Accounts]:
    async with AsyncExitStack() as stack:
        await ensure_schema(redis, prefix)
        secrets = await load_secrets(redis, prefix, settings)
        passwords = await stack.enter_async_context(Passwords(settings.passwords))
        cache = None
        if settings.key_cache_ttl_s > 0:
            cache = await stack.enter_async_context(
                KeyCache(redis, prefix, ttl_s=settings.key_cache_ttl_s)
            )
        users = Users(redis, prefix, passwords, min_password_chars=settings.min_password_chars)
        keys = ApiKeys(
            redis,
            prefix,
            secrets.api_key_hmac,
            cache=cache,
            touch_interval_s=settings.touch_interval_s,
        )
        throttle = LoginThrottle(redis, prefix, settings.throttle)
        yield Accounts(
            settings=settings,
            users=users,
            keys=keys,
            key_access=KeyAccess(keys),
            sessions=Sessions(redis, prefix, secrets.session_jwt, ttl_s=settings.session_ttl_s),
            logins=Logins(users, passwords, throttle),
            throttle=throttle,
            passwords=passwords,
        )
