"""The API key's text: `sk-llm-<id>-<secret>`, and its keyed hash.

    sk-llm-3f9a0c12b7e4-4kP9...(43 base62 characters)
           ^ id: 12 hex, public, names the key in lists and logs
                        ^ secret: 32 random bytes in base62 (no '-', URL-safe)

The id is parseable from the key, the secret never contains the separator, and the
whole key is what is hashed: HMAC-SHA256 under the server secret, so a right id with a
wrong secret hashes elsewhere and is simply not found.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "sk-llm-"
ID_HEX_CHARS = 12
SECRET_BYTES = 32
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_CHARS = 43  # ceil(256 / log2(62)): every 32-byte value fits
_SHAPE = re.compile(
    rf"{re.escape(KEY_PREFIX)}(?P<id>[0-9a-f]{{{ID_HEX_CHARS}}})-[0-9A-Za-z]{{{SECRET_CHARS}}}"
)
KEY_CHARS = len(KEY_PREFIX) + ID_HEX_CHARS + 1 + SECRET_CHARS


def new_key_id() -> str:
    return secrets.token_hex(ID_HEX_CHARS // 2)


def new_key(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}-{_base62(secrets.token_bytes(SECRET_BYTES))}"


def parse_key_id(key: str) -> str | None:
    """The id of a well-formed key, or None: checked before any hashing or lookup."""
    if len(key) != KEY_CHARS:
        return None
    match = _SHAPE.fullmatch(key)
    return match.group("id") if match else None


def key_digest(server_secret: bytes, key: str) -> str:
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def _base62(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = []
    for _ in range(SECRET_CHARS):
        n, digit = divmod(n, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))
