"""A request's hold on its API key's limits: admitted before the strategy runs, charged
with every token generated once the cost is known, released when the answer ends.

Callers without an API key (master, anonymous) have no limits: no round trip at all.
Releasing is idempotent; a stream releases in its generator's `finally`, shielded,
because litestar cancels a stream's task when its client leaves and its cancel scope
would cancel any await there again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from gateway.accounts.limits import Decision, Limiter, RateLimitedError
from gateway.accounts.limits_headers import rate_limit_headers
from gateway.http.auth import Caller

UNLIMITED = Decision(allowed=True)


class Admission:
    """One admitted request: its decision, the tokens charged, its slot released once."""

    def __init__(self, limiter: Limiter, caller: Caller, decision: Decision) -> None:
        self._limiter = limiter
        self._key_id = caller.usage_id
        self._limits = caller.limits
        self._decision = decision
        self._released = False
        self.tokens = 0  # every token generated for the answer, once known

    @property
    def headers(self) -> dict[str, str]:
        """x-ratelimit-* as of admission (a stream's, sent with its first bytes)."""
        return rate_limit_headers(self._decision)

    @property
    def settles(self) -> bool:
        """Whether the end of the answer has anything to do: a slot, or tokens to charge."""
        limits = self._limits
        return self._decision.lease is not None or bool(limits.tpm or limits.daily_tokens)

    async def settle(self, tokens: int | None = None) -> dict[str, str]:
        """The answer's end: charge its cost (`tokens`, or what a stream reported) and
        free the slot; the headers then show what is left. Neither step raises."""
        if tokens is not None:
            self.tokens = tokens
        limits = self._limits
        if not (self.tokens and (limits.tpm or limits.daily_tokens)):
            await self.release()
            return self.headers
        charging = self._limiter.charge(self._key_id, limits, self.tokens)
        if self._released or self._decision.lease is None:
            charged = await charging
        else:  # two Redis keys, two pooled connections: both round trips at once
            charged, _ = await asyncio.gather(charging, self.release())
        return rate_limit_headers(self._decision, charged)

    async def release(self) -> None:
        """Free the slot, once (idempotent)."""
        if not self._released:
            self._released = True
            await self._limiter.release(self._decision.lease)


async def admit(limiter: Limiter, caller: Caller) -> Admission:
    """Admission under the caller's limits; raises RateLimitedError (429) or, with Redis
    away and limits failing closed, LimitsUnavailableError (503)."""
    if caller.key is None:
        return Admission(limiter, caller, UNLIMITED)
    decision = await limiter.admit(caller.usage_id, caller.limits)
    if not decision.allowed:
        raise RateLimitedError(decision)
    return Admission(limiter, caller, decision)


async def metered(
    frames: AsyncGenerator[bytes, None], admission: Admission
) -> AsyncIterator[bytes]:
    """The stream's frames; its end (complete, failed or the client gone) settles."""
    try:
        async with aclosing(frames):
            async for frame in frames:
                yield frame
    finally:
        settling = asyncio.ensure_future(admission.settle())
        # The loop holds tasks weakly: keep this one until it is done.
        _SETTLING.add(settling)
        settling.add_done_callback(_SETTLING.discard)
        await asyncio.shield(settling)


_SETTLING: set[asyncio.Future[dict[str, str]]] = set()
