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
