"""Settings of per-key limits and the usage recorder (`gateway/accounts/limits.py`,
`gateway/accounts/usage.py`). Imports nothing of ATLAS."""

from __future__ import annotations

import msgspec

DEFAULT_LEASE_TTL_S = 30.0
DEFAULT_LIMITS_TIMEOUT_S = 2.0
DEFAULT_FLUSH_INTERVAL_S = 1.0
DEFAULT_FLUSH_TIMEOUT_S = 5.0
# Distinct (day, key, user, model) rows the usage batch holds while Redis is away;
# requests only add to a row's counters, so this bounds memory, not traffic.
DEFAULT_MAX_PENDING_ROWS = 100_000
DEFAULT_RETENTION_DAYS = 400


class LimitsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-key limits. With `fail_open` a request is let through unlimited while Redis
    is unreachable (its decision says `degraded`); without it such a request is refused
    with `LimitsUnavailableError` (a 503 naming Redis). Only limits fail open: usage
    waits in memory and authentication has its own rule."""

    fail_open: bool = False
    # A concurrency slot lives this long unless its holder refreshes it (every third of
    # it): a gateway killed mid-request frees its slots within this time.
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    # A Redis that answers nothing for this long counts as unreachable (so a hung Redis
    # fails closed, or open, like a down one instead of holding requests).
    timeout_s: float = DEFAULT_LIMITS_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.lease_ttl_s < 0.1:
            raise ValueError("lease_ttl_s must be at least 0.1")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


class UsageSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The usage recorder: batches flushed every `flush_interval_s`."""

    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S
    flush_timeout_s: float = DEFAULT_FLUSH_TIMEOUT_S  # then the batch waits for the next
    max_pending_rows: int = DEFAULT_MAX_PENDING_ROWS
    retention_days: int = DEFAULT_RETENTION_DAYS  # per-day rows expire; totals are kept

    def __post_init__(self) -> None:
        if self.flush_interval_s <= 0 or self.flush_timeout_s <= 0:
            raise ValueError("flush_interval_s and flush_timeout_s must be positive")
        if self.max_pending_rows < 1 or self.retention_days < 1:
            raise ValueError("max_pending_rows and retention_days must be at least 1")
