"""Per-API-key limits: requests and tokens per minute, a daily token budget (UTC day)
and a concurrency cap, checked atomically in Redis.

Per request the edge calls, in order:
1. `admit(key_id, limits)`: one EVALSHA checks every limit of the key together. A
   refusal (`allowed` false) carries what a 429 needs (`limits_headers.py`); an
   admission holds a concurrency slot (`lease`) when the key has a cap.
2. `charge(key_id, limits, tokens)` once the answer's cost is known: the tokens every
   candidate, test-writing and repair request generated.
3. `release(lease)` when the answer or its stream ends, in a `finally`.

Tokens are known only after the answer, so admission cannot reserve them. We chose
debt: a request is admitted while the key's token bucket holds at least one token and
the day's budget is not spent, and its charge may take either below zero; the next
admissions wait until the bucket refills (or the UTC day ends). Reserving an estimate
instead would refuse small requests for a large max_tokens nobody uses, and still
need a correction after the answer. One request may overshoot by its own size; the
limit holds over time.

A slot is a lease with an expiry in a sorted set, refreshed by this process every
third of `lease_ttl_s` while the request runs: a gateway killed mid-request stops
refreshing and its slots expire within `lease_ttl_s`.

Redis unreachable: admission raises `LimitsUnavailableError` (a 503 naming Redis), or
with `fail_open` lets the request through unlimited (`degraded`). Charges and
releases that cannot reach Redis are logged and dropped (a lease still expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
import redis.asyncio as aioredis
import redis.exceptions

from config.limits import LimitsSettings
from gateway.accounts.errors import AccountsError
from gateway.accounts.limits_lua import ADMIT, CHARGE, REFRESH
from gateway.accounts.schema import KeyLimits, limit_keys

logger = logging.getLogger(__name__)

Reason = Literal["requests", "tokens", "daily_tokens", "concurrency"]
_REASONS: dict[int, Reason] = {1: "requests", 2: "tokens", 3: "daily_tokens", 4: "concurrency"}
# Redis down, hung (our timeouts: TimeoutError is an OSError) or refusing (out of
# memory, a read-only replica): the limits cannot be checked. redis-py itself handles
# NOSCRIPT.
REDIS_FAILURES = (redis.exceptions.RedisError, OSError)


class LimitsUnavailableError(AccountsError):
    """Limits could not be checked because Redis is unreachable or failing (the edge:
    a 503 naming Redis)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Redis is unreachable or failing: per-key limits cannot be checked ({detail})"
        )


class RateLimitedError(AccountsError):
    """A request over one of its key's limits (the edge: a 429 with the decision's
    headers, `limits_headers.rate_limit_headers`)."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        what = _WHAT.get(decision.reason or "requests", "requests")
        wait = decision.retry_after_s or 0
        super().__init__(f"Rate limit reached for {what}: try again in {wait:.3g}s")


_WHAT: dict[str, str] = {
    "requests": "requests per minute",
    "tokens": "tokens per minute",
    "daily_tokens": "tokens per day",
    "concurrency": "requests in flight at once",
}


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """One limit's state: its size, what is left, and seconds until it is full again
    (the day's budget: until the next UTC midnight)."""

    limit: int
    remaining: int
    reset_s: float


class Lease(msgspec.Struct, frozen=True):
    """A concurrency slot held for one request."""

    key_id: str
    id: str


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Admission of one request. Windows are None for limits the key does not have."""

    allowed: bool
    reason: Reason | None = None  # why refused: the limit with the longest wait
    retry_after_s: float | None = None  # set when refused
    requests: Window | None = None
    tokens: Window | None = None  # per minute
    daily_tokens: Window | None = None
    concurrency: Window | None = None  # remaining: free slots; reset_s: 0
    lease: Lease | None = None  # release it when the answer ends
    degraded: bool = False  # let through unchecked: Redis unreachable, fail_open set


class Charge(msgspec.Struct, frozen=True, kw_only=True):
    """The token windows after a charge (for headers sent after the answer)."""

    tokens: Window | None = None
    daily_tokens: Window | None = None


def _window(limit: int | None, remaining: int, reset_ms: int) -> Window | None:
    if not limit:
        return None
    return Window(limit=limit, remaining=max(0, remaining), reset_s=reset_ms / 1000)


class Limiter:
    """Admission, charges and concurrency leases over one Redis client (`async with`
    starts the lease refresher and stops it)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        settings: LimitsSettings | None = None,
        clock: Callable[[], float] | None = None,  # seconds; None: Redis's clock
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._settings = settings or LimitsSettings()
        self._clock = clock
        self._ttl_ms = round(self._settings.lease_ttl_s * 1000)
        # redis-py sends EVALSHA and, on NOSCRIPT (a restarted or flushed Redis),
        # loads the script and retries once.
        self._admit = redis.register_script(ADMIT)
        self._charge = redis.register_script(CHARGE)
        self._refresh = redis.register_script(REFRESH)
        self._held: dict[str, set[str]] = {}  # key id -> lease ids this process holds
        self._refresher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Limiter:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="lease-refresh")

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    def _now(self) -> str:
        return "" if self._clock is None else str(int(self._clock() * 1000))

    async def admit(self, key_id: str, limits: KeyLimits) -> Decision:
        shut = _shut(limits)
        if shut is not None:
            return shut
        if not (limits.rpm or limits.tpm or limits.daily_tokens or limits.concurrency):
            return Decision(allowed=True)  # nothing to check: no round trip
        lease_id = uuid.uuid4().hex
        args = (
            self._now(),
            limits.rpm or 0,
            limits.tpm or 0,
            limits.daily_tokens or 0,
            limits.concurrency or 0,
            lease_id,
            self._ttl_ms,
        )
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                reply = await self._admit(keys=limit_keys(self._prefix, key_id), args=args)
        except REDIS_FAILURES as exc:
            if self._settings.fail_open:
                logger.warning("limits fail open for key %s: %s", key_id, exc)
                return Decision(allowed=True, degraded=True)
            raise LimitsUnavailableError(str(exc)) from exc
        decision = _decision(key_id, lease_id, limits, [int(v) for v in reply])
        if decision.lease is not None:
            self._held.setdefault(key_id, set()).add(lease_id)
        return decision

    async def charge(self, key_id: str, limits: KeyLimits, tokens: int) -> Charge | None:
        """Charge the tokens generated for one answer; None when Redis is unreachable
        (logged: the answer is already given)."""
        if not (limits.tpm or limits.daily_tokens) or tokens <= 0:
            return None
        keys = limit_keys(self._prefix, key_id)
        args = (self._now(), limits.tpm or 0, limits.daily_tokens or 0, tokens)
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                reply = await self._charge(keys=(keys[1], keys[2]), args=args)
        except REDIS_FAILURES as exc:
            logger.warning("could not charge %d tokens to key %s: %s", tokens, key_id, exc)
            return None
        left = [int(v) for v in reply]
        return Charge(
            tokens=_window(limits.tpm, left[0], left[1]),
            daily_tokens=_window(limits.daily_tokens, left[2], left[3]),
        )

    async def release(self, lease: Lease | None) -> None:
        """Free a slot; safe to call twice, and with None (no slot was taken)."""
        if lease is None:
            return
        held = self._held.get(lease.key_id)
        if held is not None:
            held.discard(lease.id)
            if not held:
                del self._held[lease.key_id]
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                await self._redis.zrem(limit_keys(self._prefix, lease.key_id)[3], lease.id)
        except REDIS_FAILURES as exc:  # it expires within lease_ttl_s
            logger.warning("could not release a slot of key %s: %s", lease.key_id, exc)

    async def refresh_leases(self) -> None:
        """Extend every lease this process holds (one pipeline)."""
        if not self._held:
            return
        async with (
            asyncio.timeout(self._settings.timeout_s),
            self._redis.pipeline(transaction=False) as pipe,
        ):
            for key_id, ids in list(self._held.items()):
                keys = (limit_keys(self._prefix, key_id)[3],)
                await self._refresh(keys=keys, args=(self._now(), self._ttl_ms, *ids), client=pipe)
            await pipe.execute()

    async def _refresh_forever(self) -> None:
        period = self._settings.lease_ttl_s / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self.refresh_leases()
            except REDIS_FAILURES as exc:
                logger.warning("could not refresh concurrency leases: %s", exc)


def _shut(limits: KeyLimits) -> Decision | None:
    """A refusal for a key with a limit of zero (None is no limit; 0 allows nothing)."""
    kinds: tuple[tuple[Reason, int | None], ...] = (
        ("requests", limits.rpm),
        ("tokens", limits.tpm),
        ("daily_tokens", limits.daily_tokens),
        ("concurrency", limits.concurrency),
    )
    for reason, limit in kinds:
        if limit is not None and limit <= 0:
            closed = Window(limit=0, remaining=0, reset_s=0)
            return Decision(
                allowed=False,
                reason=reason,
                retry_after_s=60.0,  # nothing refills; an admin must raise the limit
                requests=closed if reason == "requests" else None,
                tokens=closed if reason == "tokens" else None,
                daily_tokens=closed if reason == "daily_tokens" else None,
                concurrency=closed if reason == "concurrency" else None,
            )
    return None


def _decision(key_id: str, lease_id: str, limits: KeyLimits, reply: Sequence[int]) -> Decision:
    allowed = reply[0] == 1
    slots = limits.concurrency
    return Decision(
        allowed=allowed,
        reason=None if allowed else _REASONS[reply[1]],
        retry_after_s=None if allowed else reply[2] / 1000,
        requests=_window(limits.rpm, reply[3], reply[4]),
        tokens=_window(limits.tpm, reply[5], reply[6]),
        daily_tokens=_window(limits.daily_tokens, reply[7], reply[8]),
        concurrency=Window(limit=slots, remaining=max(0, slots - reply[9]), reset_s=0)
        if slots
        else None,
        lease=Lease(key_id, lease_id) if allowed and slots else None,
    )


def cap_k(limits: KeyLimits, k: int) -> int:
    """The candidates a request may have: what it asked for, within the key's max_k."""
    return k if limits.max_k is None else max(1, min(k, limits.max_k))
