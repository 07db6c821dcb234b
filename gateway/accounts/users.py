"""Users: unique names, roles, passwords, disabling; the first admin.

Each write is one WATCH/MULTI transaction (`Redis.transaction` retries on a conflict),
so two creators of one name, or two first admins, cannot both win. `{p}admins` holds the
enabled admins only: "an admin exists" means one who can log in, and the last of them
can be neither disabled, demoted nor deleted.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from config.accounts import MIN_PASSWORD_CHARS
from gateway.accounts.errors import (
    AdminExistsError,
    ForbiddenError,
    InvalidNameError,
    NotFoundError,
    RegistrationClosedError,
    UserExistsError,
)
from gateway.accounts.passwords import Passwords, check_password
from gateway.accounts.redis_ops import begin, scard, smembers
from gateway.accounts.schema import (
    ROLES,
    Role,
    User,
    admins_key,
    micros,
    sessions_not_before_key,
    user_key,
    user_name_key,
    users_key,
)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(User).decode


def normalize_name(name: str) -> str:
    """The stored form of a user name (lowercased), or InvalidNameError."""
    folded = name.strip().lower()
    if not _NAME.fullmatch(folded):
        raise InvalidNameError(
            "a user name is 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    return folded


class Users:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        passwords: Passwords,
        *,
        min_password_chars: int = MIN_PASSWORD_CHARS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._passwords = passwords
        self._min_password_chars = min_password_chars

    async def create(self, name: str, password: str, *, role: Role = "member") -> User:
        return await self._insert(name, password, role, only_if_no_admin=False)

    async def create_first_admin(self, name: str, password: str) -> User:
        """An admin, only if no enabled admin exists (`atlas users create-admin`, first start)."""
        return await self._insert(name, password, "admin", only_if_no_admin=True)

    async def register(self, name: str, password: str, *, open_registration: bool) -> User:
        """Self-service sign-up: a member, when `[accounts] open_registration` allows it."""
        if not open_registration:
            raise RegistrationClosedError()
        return await self.create(name, password, role="member")

    async def get(self, user_id: str) -> User:
        raw = await self._redis.get(user_key(self._prefix, user_id))
        if raw is None:
            raise NotFoundError(f"no user {user_id!r}")
        return _decode(raw)

    async def find(self, name: str) -> User | None:
        """The user of that name, or None (also for a name that could never exist)."""
        try:
            folded = normalize_name(name)
        except InvalidNameError:
            return None
        user_id = await self._redis.get(user_name_key(self._prefix, folded))
        if user_id is None:
            return None
        try:
            return await self.get(user_id.decode())
        except NotFoundError:
            return None  # deleted between the two reads

    async def list_users(self) -> list[User]:
        ids = sorted(i.decode() for i in await smembers(self._redis, users_key(self._prefix)))
        if not ids:
            return []
        raws = await self._redis.mget([user_key(self._prefix, i) for i in ids])
        return sorted((_decode(r) for r in raws if r is not None), key=lambda u: u.name)

    async def has_admin(self) -> bool:
        return bool(await scard(self._redis, admins_key(self._prefix)))

    async def set_disabled(self, user_id: str, disabled: bool) -> User:
        """Disable or enable a user. Their keys are suspended by `Accounts.set_disabled`."""

        def change(user: User, admins: int) -> User:
            if disabled and user.role == "admin" and not user.disabled and admins <= 1:
                raise ForbiddenError("the last enabled admin cannot be disabled")
            if user.disabled == disabled:
                return user  # again: keeps the first time it was disabled
            return msgspec.structs.replace(
                user, disabled=disabled, disabled_at=time.time() if disabled else None
            )

        return await self._update(user_id, change)

    async def set_role(self, user_id: str, role: Role) -> User:
        _check_role(role)

        def change(user: User, admins: int) -> User:
            if user.role == "admin" and role != "admin" and not user.disabled and admins <= 1:
                raise ForbiddenError("the last enabled admin cannot be demoted")
            return msgspec.structs.replace(user, role=role)

        return await self._update(user_id, change)

    async def change_password(self, user_id: str, new_password: str) -> User:
        """Set a new password and void every session the user had (`sessions`)."""
        check_password(new_password, min_chars=self._min_password_chars)
        new_hash = await self._passwords.hash(new_password)
        now = time.time()

        def change(user: User, admins: int) -> User:
            return msgspec.structs.replace(user, password_hash=new_hash, password_changed_at=now)

        return await self._update(user_id, change, sessions_not_before_us=micros(now))

    async def replace_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """A rehash after login: written only if the password did not change meanwhile."""
        key = user_key(self._prefix, user_id)

        async def tx(pipe: Pipeline) -> bool:
            raw = await pipe.get(key)
            if raw is None or _decode(raw).password_hash != old_hash:
                return False
            begin(pipe)
            pipe.set(key, _encode(msgspec.structs.replace(_decode(raw), password_hash=new_hash)))
            return True

        return bool(await self._redis.transaction(tx, key, value_from_callable=True))

    async def delete(self, user_id: str) -> User:
        """Remove the user and their indexes. Their keys go with `Accounts.delete_user`."""
        key, admins = user_key(self._prefix, user_id), admins_key(self._prefix)

        async def tx(pipe: Pipeline) -> User:
            user = await self._read(pipe, key, user_id)
            if user.role == "admin" and not user.disabled and await scard(pipe, admins) <= 1:
                raise ForbiddenError("the last enabled admin cannot be deleted")
            begin(pipe)
            pipe.delete(key, user_name_key(self._prefix, user.name))
            pipe.delete(sessions_not_before_key(self._prefix, user_id))
            pipe.srem(users_key(self._prefix), user_id)
            pipe.srem(admins, user_id)
            return user

        user: User = await self._redis.transaction(tx, key, admins, value_from_callable=True)
        return user

    async def _insert(
        self, name: str, password: str, role: Role, *, only_if_no_admin: bool
    ) -> User:
        folded = normalize_name(name)
        _check_role(role)
        check_password(password, min_chars=self._min_password_chars)
        name_key, admins = user_name_key(self._prefix, folded), admins_key(self._prefix)
        if only_if_no_admin and await self.has_admin():
            raise AdminExistsError()  # cheap checks first: a hash costs 19 MiB and a core
        if await self._redis.exists(name_key):
            raise UserExistsError(folded)
        now = time.time()
        user = User(
            id=secrets.token_hex(8),
            name=folded,
            role=role,
            password_hash=await self._passwords.hash(password),
            created_at=now,
            password_changed_at=now,
        )

        async def tx(pipe: Pipeline) -> None:
            if only_if_no_admin and await scard(pipe, admins):
                raise AdminExistsError()
            if await pipe.exists(name_key):
                raise UserExistsError(folded)
            begin(pipe)
            pipe.set(user_key(self._prefix, user.id), _encode(user))
            pipe.set(name_key, user.id)
            pipe.sadd(users_key(self._prefix), user.id)
            if role == "admin":
                pipe.sadd(admins, user.id)

        await self._redis.transaction(tx, name_key, admins)
        return user

    async def _update(
        self,
        user_id: str,
        change: Callable[[User, int], User],
        *,
        sessions_not_before_us: int | None = None,
    ) -> User:
        """Read, change and write one user, keeping `{p}admins` in step with the result."""
        key, admins = user_key(self._prefix, user_id), admins_key(self._prefix)

        async def tx(pipe: Pipeline) -> User:
            user = await self._read(pipe, key, user_id)
            new: User = change(user, int(await scard(pipe, admins)))
            begin(pipe)
            pipe.set(key, _encode(new))
            if new.role == "admin" and not new.disabled:
                pipe.sadd(admins, user_id)
            else:
                pipe.srem(admins, user_id)
            if sessions_not_before_us is not None:
                pipe.set(sessions_not_before_key(self._prefix, user_id), sessions_not_before_us)
            return new

        user: User = await self._redis.transaction(tx, key, admins, value_from_callable=True)
        return user

    async def _read(self, pipe: Pipeline, key: str, user_id: str) -> User:
        raw = await pipe.get(key)
        if raw is None:
            raise NotFoundError(f"no user {user_id!r}")
        return _decode(raw)


def _check_role(role: str) -> None:
    if role not in ROLES:  # the edge may pass any string
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
