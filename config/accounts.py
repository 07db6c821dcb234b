"""Settings of the accounts (`[accounts]`): secrets, password hashing, sessions, throttling.

The one definition: `gateway/accounts/` takes this struct as it is. Imports nothing of
ATLAS. Not yet part of `Settings` (the integration adds `[accounts]` and the env
overrides `ATLAS_API_KEY_SECRET`, `ATLAS_SESSION_SECRET`).
"""

from __future__ import annotations

import msgspec

from config.limits import LimitsSettings, UsageSettings

# OWASP's minimum for argon2id: 19 MiB, two passes, one lane.
MIN_ARGON2_MEMORY_KIB = 19 * 1024
MIN_ARGON2_TIME_COST = 2
# A server secret (HMAC of API keys, JWT signatures): at least 256 bits.
MIN_SECRET_BYTES = 32
MIN_PASSWORD_CHARS = 12


class PasswordHashSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """argon2id's cost; raising it rehashes each password at its owner's next login."""

    memory_kib: int = MIN_ARGON2_MEMORY_KIB
    time_cost: int = MIN_ARGON2_TIME_COST
    parallelism: int = 1
    # Hashes computed at once, each holding `memory_kib`: bounds memory and CPU.
    threads: int = 2

    def __post_init__(self) -> None:
        if self.memory_kib < MIN_ARGON2_MEMORY_KIB:
            raise ValueError(f"memory_kib must be at least {MIN_ARGON2_MEMORY_KIB} (OWASP)")
        if self.time_cost < MIN_ARGON2_TIME_COST:
            raise ValueError(f"time_cost must be at least {MIN_ARGON2_TIME_COST} (OWASP)")
        if self.parallelism < 1 or self.threads < 1:
            raise ValueError("parallelism and threads must be at least 1")


class ThrottleSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Failed logins allowed per window before the account or address is locked out."""

    account_failures: int = 5
    address_failures: int = 20
    window_s: int = 15 * 60

    def __post_init__(self) -> None:
        if min(self.account_failures, self.address_failures, self.window_s) < 1:
            raise ValueError("throttle limits and window_s must be at least 1")


class AccountsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None: generated once and stored in Redis, shared by every replica on it.
    api_key_secret: str | None = None  # or ATLAS_API_KEY_SECRET
    session_secret: str | None = None  # or ATLAS_SESSION_SECRET
    # Refuse to start unless both secrets are configured (not kept next to the data).
    require_configured_secrets: bool = False
    open_registration: bool = False
    # First start: a gateway with no admin creates one named `admin_name` with the
    # password in this file (its first line). ATLAS_ADMIN_PASSWORD_FILE, ATLAS_ADMIN_NAME.
    admin_password_file: str | None = None
    admin_name: str = "admin"
    session_ttl_s: int = 8 * 3600
    min_password_chars: int = MIN_PASSWORD_CHARS
    # An authenticated key is reused from memory this long; revocations evict it at once.
    key_cache_ttl_s: float = 5.0
    # A key's last-used time is written at most once per this many seconds.
    touch_interval_s: float = 60.0
    passwords: PasswordHashSettings = msgspec.field(default_factory=PasswordHashSettings)
    throttle: ThrottleSettings = msgspec.field(default_factory=ThrottleSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    usage: UsageSettings = msgspec.field(default_factory=UsageSettings)

    def __post_init__(self) -> None:
        for name, value in (
            ("api_key_secret", self.api_key_secret),
            ("session_secret", self.session_secret),
        ):
            if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
            if value is None and self.require_configured_secrets:
                raise ValueError(f"{name} is required (require_configured_secrets = true)")
        if self.min_password_chars < 8:
            raise ValueError("min_password_chars must be at least 8")
        if self.session_ttl_s < 60:
            raise ValueError("session_ttl_s must be at least 60")
        if self.key_cache_ttl_s < 0 or self.touch_interval_s < 0:
            raise ValueError("key_cache_ttl_s and touch_interval_s must not be negative")
