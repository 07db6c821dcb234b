"""Every Redis key the accounts use, and the shapes of their values, in one place.

All keys start with the store's prefix (`[redis] prefix`, "atlas:" by default), so one
Redis can hold several gateways' data (the tests do). A layout change bumps
SCHEMA_VERSION and adds a migration (`store.MIGRATIONS`); the version lives at
`{prefix}schema`.

Records are msgpack-encoded msgspec Structs. Times are Unix seconds (float) unless the
name says `_us` (whole microseconds, `micros`). Ids are lowercase hex; user names are
stored lowercased.

Key                                   Type    Value
{p}schema                             string  SCHEMA_VERSION as ASCII digits
{p}schema:lock                        string  held (SET NX PX) while one process migrates
{p}secret:{purpose}                   string  32 random bytes (SECRET_* purposes), SET NX
{p}user:{user_id}                     string  User
{p}user-name:{name}                   string  user_id: the unique-name index
{p}users                              set     every user_id
{p}admins                             set     user_ids whose role is admin
{p}user-keys:{user_id}                set     the ids of that user's API keys
{p}api-key:{digest}                   string  ApiKey, found by HMAC-SHA256(key) in hex
{p}api-key-id:{key_id}                string  digest of that key: lookups by id
{p}api-keys                           set     every key_id
{p}api-key-used                       hash    key_id -> last-used time (ASCII seconds)
{p}api-keys:changed                   pubsub  a revocation or update: caches drop keys
{p}session-revoked:{jti}              string  "1", expiring when the session would
{p}sessions-not-before:{user_id}      string  µs: sessions issued at or before are void
{p}login-failures:{scope}:{subject}   string  failed logins in the window (SET NX EX, INCR)
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

SCHEMA_VERSION = 1

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")
SECRET_API_KEY_HMAC = "api-key-hmac"
SECRET_SESSION_JWT = "session-jwt"
ThrottleScope = Literal["account", "address"]


class KeyLimits(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an admin allows one API key; None: no limit of that kind."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute, every candidate's tokens counted
    daily_tokens: int | None = None  # tokens per UTC day, likewise
    concurrency: int | None = None  # requests in flight at once
    max_k: int | None = None  # the most candidates (test-time compute) it may ask for


class User(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    name: str
    role: Role
    password_hash: str  # argon2id, PHC string with its parameters
    created_at: float
    password_changed_at: float
    disabled: bool = False
    disabled_at: float | None = None


class ApiKey(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One key's record. The key itself is never stored: only its keyed hash."""

    id: str  # the public id, also the part of the key after `sk-llm-`
    digest: str  # HMAC-SHA256(server secret, full key), hex
    owner: str  # user_id
    name: str
    last_four: str  # the key's last four characters, to tell keys apart in lists
    created_at: float
    expires_at: float | None = None
    models: tuple[str, ...] | None = None  # None: every model
    limits: KeyLimits = msgspec.field(default_factory=KeyLimits)
    revoked: bool = False
    revoked_at: float | None = None
    suspended: bool = False  # its owner is disabled; lifted when they are enabled again


def micros(t: float) -> int:
    """Unix seconds as whole microseconds: session `iat` and not-before compare in these."""
    return math.floor(t * 1_000_000)


def schema_lock_key(prefix: str) -> str:
    return f"{prefix}schema:lock"


def secret_key(prefix: str, purpose: str) -> str:
    return f"{prefix}secret:{purpose}"


def user_key(prefix: str, user_id: str) -> str:
    return f"{prefix}user:{user_id}"


def user_name_key(prefix: str, name: str) -> str:
    return f"{prefix}user-name:{name}"


def users_key(prefix: str) -> str:
    return f"{prefix}users"


def admins_key(prefix: str) -> str:
    return f"{prefix}admins"


def user_keys_key(prefix: str, user_id: str) -> str:
    return f"{prefix}user-keys:{user_id}"


def api_key_key(prefix: str, digest: str) -> str:
    return f"{prefix}api-key:{digest}"


def api_key_id_key(prefix: str, key_id: str) -> str:
    return f"{prefix}api-key-id:{key_id}"


def api_keys_key(prefix: str) -> str:
    return f"{prefix}api-keys"


def api_key_used_key(prefix: str) -> str:
    return f"{prefix}api-key-used"


def api_keys_channel(prefix: str) -> str:
    return f"{prefix}api-keys:changed"


def session_revoked_key(prefix: str, jti: str) -> str:
    return f"{prefix}session-revoked:{jti}"


def sessions_not_before_key(prefix: str, user_id: str) -> str:
    return f"{prefix}sessions-not-before:{user_id}"


def login_failures_key(prefix: str, scope: ThrottleScope, subject: str) -> str:
    return f"{prefix}login-failures:{scope}:{subject}"


def schema_key(prefix: str) -> str:
    return f"{prefix}schema"


# --- Limits and usage (gateway/accounts/limits.py, usage.py, usage_read.py) -------------
# Owned by the limits and usage modules; the rest of this file is the accounts' own.
#
# Limits, per API key id (`{...}` is a Redis Cluster hash tag: one key's four keys share
# a slot, so the admission script may touch them all):
#   {prefix}limits:{<key_id>}:rpm     hash  level (float, may be fractional), at (ms)
#   {prefix}limits:{<key_id>}:tpm     hash  level (float, negative while in debt), at (ms)
#       Token buckets: capacity = the per-minute limit, refilled linearly at capacity
#       per 60 s from `at`; absent = full. Each expires once it would be full again.
#   {prefix}limits:{<key_id>}:day     hash  day (UTC days since the epoch), used (tokens)
#       Expires a minute after that day's UTC midnight; another `day` counts as 0 used.
#   {prefix}limits:{<key_id>}:leases  sorted set  member = lease id, score = expiry (ms)
#       Concurrency slots: expired members are dropped at each admission.
# Times are Redis's own clock (TIME) unless a test injects one, so replicas agree.
#
# Usage, per (UTC day, key id, user id, model); <row> is the JSON array
# ["<key_id>", "<user_id or empty>", "<model>"] (injective, whatever the names hold):
#   {prefix}usage:day:<YYYY-MM-DD>:<row>   hash of counters (fields below), expires after
#                                          [usage] retention_days
#   {prefix}usage:rows:<YYYY-MM-DD>        set of <row> that have counters that day
#   {prefix}usage:total:<row>              hash of all-time counters (never expires)
#   {prefix}usage:rows:total               set of <row> with all-time counters
#   {prefix}usage:flushed:<writer>         the last batch number one recorder wrote
#                                          (in the same MULTI), so a retry after a lost
#                                          reply is not counted twice; expires in a day
# Counter fields, all integers added with HINCRBY (replicas add up):
#   requests, prompt_tokens, completion_tokens (of the answer returned),
#   generated_tokens (every candidate's, test-writing's and repair's),
#   verified (answers that passed verification), route:<route> (requests per route),
#   k:<k> (requests per candidate count).

USAGE_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "generated_tokens", "verified")
ROUTE_FIELD = "route:"
K_FIELD = "k:"


def limit_keys(prefix: str, key_id: str) -> tuple[str, str, str, str]:
    """The rpm bucket, tpm bucket, daily budget and leases of one API key."""
    base = f"{prefix}limits:{{{key_id}}}:"
    return f"{base}rpm", f"{base}tpm", f"{base}day", f"{base}leases"


def usage_row(key_id: str, user_id: str | None, model: str) -> str:
    return msgspec.json.encode([key_id, user_id or "", model]).decode()


def usage_day_key(prefix: str, day: str, row: str) -> str:
    return f"{prefix}usage:day:{day}:{row}"


def usage_day_rows_key(prefix: str, day: str) -> str:
    return f"{prefix}usage:rows:{day}"


def usage_total_key(prefix: str, row: str) -> str:
    return f"{prefix}usage:total:{row}"


def usage_total_rows_key(prefix: str) -> str:
    return f"{prefix}usage:rows:total"


def usage_flushed_key(prefix: str, writer: str) -> str:
    return f"{prefix}usage:flushed:{writer}"
