"""API keys: created once, found by their keyed hash, revoked and updated atomically.

`authenticate` is the hot path: parse, HMAC, then the in-process cache or one GET. Every
change to a record is one WATCH/MULTI that also publishes on `{p}api-keys:changed`, so
caches on every replica drop the key at once. Last-used times live apart from the
records (one hash field per key), written at most once per `touch_interval_s`.
"""

from __future__ import annotations

import enum
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from gateway.accounts.errors import InvalidNameError, NotFoundError
from gateway.accounts.key_cache import KeyCache
from gateway.accounts.key_format import key_digest, new_key, new_key_id, parse_key_id
from gateway.accounts.redis_ops import begin, hmget, hset, smembers
from gateway.accounts.schema import (
    ApiKey,
    KeyLimits,
    User,
    api_key_id_key,
    api_key_key,
    api_key_used_key,
    api_keys_channel,
    api_keys_key,
    user_key,
    user_keys_key,
)

RejectReason = Literal["malformed", "unknown", "revoked", "expired", "suspended"]
DEFAULT_TOUCH_INTERVAL_S = 60.0
MAX_KEY_NAME_CHARS = 64
_MAX_TOUCHED = 100_000
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ApiKey).decode
_decode_user = msgspec.msgpack.Decoder(User).decode


class KeyRejected(msgspec.Struct, frozen=True):
    """Why a key does not authenticate. The edge answers every reason with one 401."""

    reason: RejectReason


class CreatedKey(msgspec.Struct, frozen=True):
    key: str  # the full key: shown once, never stored
    record: ApiKey


class ListedKey(msgspec.Struct, frozen=True):
    record: ApiKey
    last_used_at: float | None


class Keep(enum.Enum):
    KEEP = enum.auto()


KEEP = Keep.KEEP  # in `update`: leave this field as it is


class ApiKeys:
    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        server_secret: bytes,
        *,
        cache: KeyCache | None = None,
        touch_interval_s: float = DEFAULT_TOUCH_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._secret = server_secret
        self._cache = cache
        self._touch_interval_s = touch_interval_s
        self._clock = clock
        self._touched: dict[str, float] = {}

    async def create(
        self,
        owner: str,
        name: str,
        *,
        expires_at: float | None = None,
        models: Sequence[str] | None = None,
        limits: KeyLimits | None = None,
    ) -> CreatedKey:
        """A new key for an enabled user. The full key is in the answer and nowhere else."""
        name = _check_name(name)
        if expires_at is not None and expires_at <= self._clock():
            raise ValueError("expires_at is in the past")
        key_id = new_key_id()
        key = new_key(key_id)
        record = ApiKey(
            id=key_id,
            digest=key_digest(self._secret, key),
            owner=owner,
            name=name,
            last_four=key[-4:],
            created_at=self._clock(),
            expires_at=expires_at,
            models=_models(models),
            limits=limits or KeyLimits(),
        )
        owner_key, id_key = user_key(self._prefix, owner), api_key_id_key(self._prefix, key_id)

        async def tx(pipe: Pipeline) -> None:
            raw = await pipe.get(owner_key)
            if raw is None or _decode_user(raw).disabled:
                raise NotFoundError(f"no enabled user {owner!r}")
            if await pipe.exists(id_key):
                raise _IdTaken()
            begin(pipe)
            pipe.set(api_key_key(self._prefix, record.digest), _encode(record))
            pipe.set(id_key, record.digest)
            pipe.sadd(api_keys_key(self._prefix), key_id)
            pipe.sadd(user_keys_key(self._prefix, owner), key_id)

        try:
            await self._redis.transaction(tx, owner_key, id_key)
        except _IdTaken:  # 48 random bits: a retry, not a loop
            return await self.create(
                owner, name, expires_at=expires_at, models=models, limits=limits
            )
        return CreatedKey(key=key, record=record)

    async def authenticate(self, key: str) -> ApiKey | KeyRejected:
        """The key's record if it may be used now, else why not (one GET on a miss)."""
        key_id = parse_key_id(key)
        if key_id is None:
            return KeyRejected("malformed")
        digest = key_digest(self._secret, key)
        record = self._cache.get(digest) if self._cache is not None else None
        if record is None:
            generation = self._cache.generation if self._cache is not None else 0
            raw = await self._redis.get(api_key_key(self._prefix, digest))
            if raw is None:
                return KeyRejected("unknown")
            record = _decode(raw)
            if not hmac.compare_digest(record.digest, digest) or record.id != key_id:
                return KeyRejected("unknown")
            rejected = self._check(record)
            if rejected is not None:
                return rejected
            if self._cache is not None:
                self._cache.put(digest, record, generation)
            return record
        return self._check(record) or record

    async def touch(self, record: ApiKey) -> bool:
        """Note that the key was used; writes at most once per interval per key."""
        now = self._clock()
        last = self._touched.get(record.id)
        if last is not None and now - last < self._touch_interval_s:
            return False
        if len(self._touched) >= _MAX_TOUCHED:
            self._touched.clear()
        self._touched[record.id] = now
        await hset(self._redis, api_key_used_key(self._prefix), record.id, repr(now))
        return True

    async def get(self, key_id: str) -> ApiKey:
        digest = await self._redis.get(api_key_id_key(self._prefix, key_id))
        raw = None if digest is None else await self._redis.get(self._record_key(digest))
        if raw is None:
            raise NotFoundError(f"no key {key_id!r}")
        return _decode(raw)

    async def list_keys(self, owner: str | None = None) -> list[ListedKey]:
        """One user's keys, or every key (for an admin), newest first."""
        index = api_keys_key(self._prefix) if owner is None else user_keys_key(self._prefix, owner)
        ids = sorted(i.decode() for i in await smembers(self._redis, index))
        if not ids:
            return []
        digests = await self._redis.mget([api_key_id_key(self._prefix, i) for i in ids])
        raws = await self._redis.mget([self._record_key(d) for d in digests if d is not None])
        records = [_decode(r) for r in raws if r is not None]
        used = await hmget(self._redis, api_key_used_key(self._prefix), [r.id for r in records])
        listed = [
            ListedKey(record=r, last_used_at=None if u is None else float(u))
            for r, u in zip(records, used, strict=True)
        ]
        return sorted(listed, key=lambda k: k.record.created_at, reverse=True)

    async def revoke(self, key_id: str) -> ApiKey:
        def change(record: ApiKey) -> ApiKey:
            if record.revoked:
                return record
            return msgspec.structs.replace(record, revoked=True, revoked_at=self._clock())

        return (await self._change([key_id], change))[0]

    async def update(
        self,
        key_id: str,
        *,
        name: str | Keep = KEEP,
        limits: KeyLimits | Keep = KEEP,
        models: Sequence[str] | Keep | None = KEEP,
        expires_at: float | Keep | None = KEEP,
    ) -> ApiKey:
        """Change what a key may do (the edge lets only admins). KEEP leaves a field."""
        changes: dict[str, object] = {}
        if not isinstance(name, Keep):
            changes["name"] = _check_name(name)
        if not isinstance(limits, Keep):
            changes["limits"] = limits
        if not isinstance(models, Keep):
            changes["models"] = _models(models)
        if not isinstance(expires_at, Keep):
            changes["expires_at"] = expires_at

        def change(record: ApiKey) -> ApiKey:
            return msgspec.structs.replace(record, **changes)

        return (await self._change([key_id], change))[0]

    async def set_owner_suspended(self, owner: str, suspended: bool) -> int:
        """Suspend (or restore) every key of a user being disabled (or enabled)."""

        def change(record: ApiKey) -> ApiKey:
            return msgspec.structs.replace(record, suspended=suspended)

        index = user_keys_key(self._prefix, owner)
        ids = [i.decode() for i in await smembers(self._redis, index)]
        return len(await self._change(ids, change, also_watch=index))

    async def remove_owner(self, owner: str) -> int:
        """Delete every key of a user being deleted; returns how many."""
        index = user_keys_key(self._prefix, owner)

        async def tx(pipe: Pipeline) -> int:
            ids = [i.decode() for i in await smembers(pipe, index)]
            digests = await pipe.mget([api_key_id_key(self._prefix, i) for i in ids]) if ids else []
            begin(pipe)
            for key_id, digest in zip(ids, digests, strict=True):
                if digest is not None:
                    pipe.delete(self._record_key(digest))
                pipe.delete(api_key_id_key(self._prefix, key_id))
                pipe.srem(api_keys_key(self._prefix), key_id)
                pipe.hdel(api_key_used_key(self._prefix), key_id)
            pipe.delete(index)
            pipe.publish(api_keys_channel(self._prefix), b"*")
            return len(ids)

        removed = int(await self._redis.transaction(tx, index, value_from_callable=True))
        self._invalidate_local()
        return removed

    async def _change(
        self,
        key_ids: Sequence[str],
        change: Callable[[ApiKey], ApiKey],
        *,
        also_watch: str | None = None,
    ) -> list[ApiKey]:
        """Read, change and write records in one transaction; tell every cache."""
        if not key_ids:
            return []
        digests = await self._redis.mget([api_key_id_key(self._prefix, i) for i in key_ids])
        if any(d is None for d in digests):
            raise NotFoundError("no such key")
        record_keys = [self._record_key(d) for d in digests]
        watched = [*record_keys, *([also_watch] if also_watch else [])]

        async def tx(pipe: Pipeline) -> list[ApiKey]:
            raws = await pipe.mget(record_keys)
            if any(r is None for r in raws):
                raise NotFoundError("no such key")
            new = [change(_decode(r)) for r in raws]
            begin(pipe)
            for record_key, record in zip(record_keys, new, strict=True):
                pipe.set(record_key, _encode(record))
            pipe.publish(api_keys_channel(self._prefix), ",".join(key_ids))
            return new

        changed: list[ApiKey] = await self._redis.transaction(
            tx, *watched, value_from_callable=True
        )
        self._invalidate_local()
        return changed

    def _check(self, record: ApiKey) -> KeyRejected | None:
        if record.revoked:
            return KeyRejected("revoked")
        if record.suspended:
            return KeyRejected("suspended")
        if record.expires_at is not None and record.expires_at <= self._clock():
            return KeyRejected("expired")
        return None

    def _invalidate_local(self) -> None:
        # Our own listener hears the message too; this makes our next lookup see it now.
        if self._cache is not None:
            self._cache.clear()

    def _record_key(self, digest: bytes | str) -> str:
        return api_key_key(self._prefix, digest.decode() if isinstance(digest, bytes) else digest)


class _IdTaken(Exception):
    pass


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME_CHARS or not name.isprintable():
        raise InvalidNameError(f"a key name is 1 to {MAX_KEY_NAME_CHARS} printable characters")
    return name


def _models(models: Sequence[str] | None) -> tuple[str, ...] | None:
    """An allow-list as stored: None allows every model, () none."""
    if isinstance(models, str):
        raise TypeError("models is a list of model names, not one string")
    return None if models is None else tuple(models)
