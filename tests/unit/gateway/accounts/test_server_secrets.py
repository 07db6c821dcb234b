"""Server secrets: generated once and shared through Redis, or configured and checked."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from config.accounts import AccountsSettings
from gateway.accounts.errors import SecretError
from gateway.accounts.schema import SECRET_API_KEY_HMAC, secret_key
from gateway.accounts.server_secrets import load_secrets, shared_secret

pytestmark = pytest.mark.redis

CONFIGURED = "k" * 32


async def test_generated_once_and_shared_by_two_clients(
    client: aioredis.Redis, other_client: aioredis.Redis, prefix: str
) -> None:
    settings = AccountsSettings()
    first, second = await asyncio.gather(
        load_secrets(client, prefix, settings), load_secrets(other_client, prefix, settings)
    )
    assert first == second
    assert len(first.api_key_hmac) >= 32 and len(first.session_jwt) >= 32
    assert first.api_key_hmac != first.session_jwt
    again = await load_secrets(client, prefix, settings)  # a restart keeps them
    assert again == first
    assert await client.get(secret_key(prefix, SECRET_API_KEY_HMAC)) == first.api_key_hmac
    assert "hidden" in repr(first) and first.api_key_hmac.hex() not in repr(first)


async def test_a_configured_secret_wins_and_is_not_stored(
    client: aioredis.Redis, prefix: str
) -> None:
    secrets = await load_secrets(
        client, prefix, AccountsSettings(api_key_secret=CONFIGURED, session_secret=CONFIGURED)
    )
    assert secrets.api_key_hmac == CONFIGURED.encode()
    assert await client.keys(f"{prefix}*") == []


async def test_a_short_configured_secret_is_refused(client: aioredis.Redis, prefix: str) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        await shared_secret(client, prefix, "p", "x" * 31)
    with pytest.raises(ValueError, match="api_key_secret must be at least 32 bytes"):
        AccountsSettings(api_key_secret="x" * 31)


async def test_a_required_secret_must_be_configured(client: aioredis.Redis, prefix: str) -> None:
    with pytest.raises(SecretError, match="must be configured"):
        await shared_secret(client, prefix, "p", None, require=True)
    with pytest.raises(ValueError, match="session_secret is required"):
        AccountsSettings(require_configured_secrets=True, api_key_secret=CONFIGURED)
    assert await client.keys(f"{prefix}*") == []


async def test_a_damaged_stored_secret_is_refused(client: aioredis.Redis, prefix: str) -> None:
    await client.set(secret_key(prefix, "p"), b"short")
    with pytest.raises(SecretError, match="no usable secret"):
        await shared_secret(client, prefix, "p", None)
