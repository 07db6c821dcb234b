"""Every Redis key the accounts use, and the shapes of their values, in one place.

All keys start with the store's prefix (`[redis] prefix`, "atlas:" by default), so one
Redis can hold several gateways' data (the tests do). A layout change bumps
SCHEMA_VERSION and adds a migration; the version lives at `{prefix}schema`.
"""

from __future__ import annotations

import msgspec

SCHEMA_VERSION = 1


class KeyLimits(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an admin allows one API key; None: no limit of that kind."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute, every candidate's tokens counted
    daily_tokens: int | None = None  # tokens per UTC day, likewise
    concurrency: int | None = None  # requests in flight at once
    max_k: int | None = None  # the most candidates (test-time compute) it may ask for


def schema_key(prefix: str) -> str:
    return f"{prefix}schema"
