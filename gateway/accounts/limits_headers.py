"""A limits decision as OpenAI's rate-limit headers (and Retry-After on a refusal).

OpenAI reports the per-minute windows: `x-ratelimit-{limit,remaining,reset}-requests`
and `-tokens`, resets written as Go durations ("1s", "6m0s", "20ms"). The token headers
show the binding token limit: the one that refused, else whichever of the minute's
bucket and the day's budget has less left. A limit the key does not have sends no
header.
"""

from __future__ import annotations

import math

from gateway.accounts.limits import Charge, Decision, Window


def format_reset(seconds: float) -> str:
    """A duration as Go (and so OpenAI) prints it, to the millisecond."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, rounded up and at least 1 (0 would invite a spin)."""
    return str(max(1, math.ceil(seconds)))


def rate_limit_headers(decision: Decision, charge: Charge | None = None) -> dict[str, str]:
    """Headers for any answer, admitted or refused; `charge` (from `Limiter.charge`)
    brings the token windows up to date for headers sent after the answer."""
    headers: dict[str, str] = {}
    if decision.requests is not None:
        _put(headers, "requests", decision.requests)
    tokens, daily = decision.tokens, decision.daily_tokens
    if charge is not None:
        tokens, daily = charge.tokens or tokens, charge.daily_tokens or daily
    binding = _binding(decision, tokens, daily)
    if binding is not None:
        _put(headers, "tokens", binding)
    if not decision.allowed and decision.retry_after_s is not None:
        headers["retry-after"] = retry_after(decision.retry_after_s)
    return headers


def _binding(decision: Decision, tokens: Window | None, daily: Window | None) -> Window | None:
    if decision.reason == "daily_tokens" and daily is not None:
        return daily
    if decision.reason == "tokens" and tokens is not None:
        return tokens
    if tokens is None or daily is None:
        return tokens or daily
    return daily if daily.remaining < tokens.remaining else tokens


def _put(headers: dict[str, str], kind: str, window: Window) -> None:
    headers[f"x-ratelimit-limit-{kind}"] = str(window.limit)
    headers[f"x-ratelimit-remaining-{kind}"] = str(window.remaining)
    headers[f"x-ratelimit-reset-{kind}"] = format_reset(window.reset_s)
