"""The two server secrets: the HMAC key of API keys and the JWT signing key.

A configured secret wins. Otherwise one is generated once and kept in Redis with SET NX,
so replicas starting together against one Redis agree on the first one written. Keeping
it next to the hashes it protects is the convenient default; a deployment that wants the
two apart configures both and sets `require_configured_secrets`.
"""

from __future__ import annotations

import secrets

import msgspec
import redis.asyncio as aioredis

from config.accounts import MIN_SECRET_BYTES, AccountsSettings
from gateway.accounts.errors import SecretError
from gateway.accounts.schema import SECRET_API_KEY_HMAC, SECRET_SESSION_JWT, secret_key


class ServerSecrets(msgspec.Struct, frozen=True, kw_only=True):
    api_key_hmac: bytes
    session_jwt: bytes

    def __repr__(self) -> str:  # never in a log line or a traceback
        return "ServerSecrets(<hidden>)"


async def load_secrets(
    redis: aioredis.Redis, prefix: str, settings: AccountsSettings
) -> ServerSecrets:
    require = settings.require_configured_secrets
    return ServerSecrets(
        api_key_hmac=await shared_secret(
            redis, prefix, SECRET_API_KEY_HMAC, settings.api_key_secret, require=require
        ),
        session_jwt=await shared_secret(
            redis, prefix, SECRET_SESSION_JWT, settings.session_secret, require=require
        ),
    )


async def shared_secret(
    redis: aioredis.Redis,
    prefix: str,
    purpose: str,
    configured: str | None,
    *,
    require: bool = False,
) -> bytes:
    """The configured secret, or the one stored for `purpose` (generated if absent)."""
    if configured is not None:
        value = configured.encode()
        if len(value) < MIN_SECRET_BYTES:
            raise SecretError(f"the {purpose} secret must be at least {MIN_SECRET_BYTES} bytes")
        return value
    if require:
        raise SecretError(f"the {purpose} secret must be configured")
    key = secret_key(prefix, purpose)
    await redis.set(key, secrets.token_bytes(MIN_SECRET_BYTES), nx=True)
    stored = await redis.get(key)
    if not isinstance(stored, bytes) or len(stored) < MIN_SECRET_BYTES:
        raise SecretError(f"{key} holds no usable secret (at least {MIN_SECRET_BYTES} bytes)")
    return stored
