"""Object-level authorization: who may see and change which keys and users.

A member sees and manages only their own objects; an admin sees all. Another user's
object looks, to a member, exactly like one that does not exist (NotFoundError, the
edge's 404), so ids cannot be probed. Limits and model lists are admin-only
(ForbiddenError, for an object the member can see).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gateway.accounts.errors import ForbiddenError, NotFoundError
from gateway.accounts.keys import KEEP, ApiKeys, CreatedKey, Keep, ListedKey
from gateway.accounts.schema import ApiKey, KeyLimits, Role, User
from gateway.accounts.users import Users


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking: from a verified session or API key, via the user record."""

    user_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def principal_of(user: User) -> Principal:
    return Principal(user_id=user.id, role=user.role)


def may_see(who: Principal, owner: str) -> bool:
    return who.is_admin or who.user_id == owner


class KeyAccess:
    """ApiKeys as one principal may use them. Members' new keys get `default_limits`."""

    def __init__(self, keys: ApiKeys, *, default_limits: KeyLimits | None = None) -> None:
        self._keys = keys
        self._default_limits = default_limits or KeyLimits()

    async def get(self, who: Principal, key_id: str) -> ApiKey:
        record = await self._keys.get(key_id)
        if not may_see(who, record.owner):
            raise NotFoundError(f"no key {key_id!r}")
        return record

    async def list_keys(self, who: Principal, owner: str | None = None) -> list[ListedKey]:
        """A member's own keys; for an admin, one owner's or (owner None) everyone's."""
        if not who.is_admin:
            if owner not in (None, who.user_id):
                raise NotFoundError(f"no user {owner!r}")
            owner = who.user_id
        return await self._keys.list_keys(owner)

    async def create(
        self,
        who: Principal,
        name: str,
        *,
        owner: str | None = None,
        expires_at: float | None = None,
        models: Sequence[str] | None = None,
        limits: KeyLimits | None = None,
    ) -> CreatedKey:
        owner = who.user_id if owner is None else owner
        if not may_see(who, owner):
            raise NotFoundError(f"no user {owner!r}")
        if not who.is_admin and (models is not None or limits is not None):
            raise ForbiddenError("only an admin sets a key's limits or models")
        return await self._keys.create(
            owner,
            name,
            expires_at=expires_at,
            models=models,
            limits=limits if limits is not None else self._default_limits,
        )

    async def revoke(self, who: Principal, key_id: str) -> ApiKey:
        await self.get(who, key_id)
        return await self._keys.revoke(key_id)

    async def update(
        self,
        who: Principal,
        key_id: str,
        *,
        limits: KeyLimits | Keep = KEEP,
        models: Sequence[str] | Keep | None = KEEP,
    ) -> ApiKey:
        await self.get(who, key_id)
        if not who.is_admin:
            raise ForbiddenError("only an admin changes a key's limits or models")
        return await self._keys.update(key_id, limits=limits, models=models)


async def visible_user(users: Users, who: Principal, user_id: str) -> User:
    """The user, if `who` may see them: themselves, or anyone for an admin."""
    if not may_see(who, user_id):
        raise NotFoundError(f"no user {user_id!r}")
    return await users.get(user_id)
