"""Rate-limit headers in OpenAI's names and formats."""

from __future__ import annotations

import pytest

from gateway.accounts.limits import Charge, Decision, Window
from gateway.accounts.limits_headers import format_reset, rate_limit_headers, retry_after


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (0.02, "20ms"),
        (0.9994, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (8.64, "8.64s"),
        (59.9996, "1m0s"),
        (360, "6m0s"),
        (90.25, "1m30.25s"),
        (3600, "1h0m0s"),
        (86399, "23h59m59s"),
    ],
)
def test_resets_read_like_openais(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after(s) for s in (0.0, 0.2, 1.0, 1.01, 30.06)] == ["1", "1", "1", "2", "31"]


def test_headers_of_an_admission() -> None:
    decision = Decision(
        allowed=True,
        requests=Window(limit=60, remaining=59, reset_s=1),
        tokens=Window(limit=10_000, remaining=4_000, reset_s=36),
    )
    assert rate_limit_headers(decision) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": "4000",
        "x-ratelimit-reset-tokens": "36s",
    }


def test_tokens_show_the_binding_limit_and_a_charge_updates_them() -> None:
    minute = Window(limit=10_000, remaining=9_000, reset_s=6)
    day = Window(limit=50_000, remaining=500, reset_s=3600)
    decision = Decision(allowed=True, tokens=minute, daily_tokens=day)
    assert rate_limit_headers(decision)["x-ratelimit-limit-tokens"] == "50000"
    after = Charge(tokens=Window(limit=10_000, remaining=200, reset_s=58.8), daily_tokens=day)
    headers = rate_limit_headers(decision, after)
    assert headers["x-ratelimit-remaining-tokens"] == "200"
    assert headers["x-ratelimit-reset-tokens"] == "58.8s"
    assert "retry-after" not in headers


def test_a_refusal_names_what_refused_and_when_to_retry() -> None:
    decision = Decision(
        allowed=False,
        reason="tokens",
        retry_after_s=30.06,
        tokens=Window(limit=1000, remaining=0, reset_s=90),
        daily_tokens=Window(limit=5000, remaining=0, reset_s=7200),
    )
    headers = rate_limit_headers(decision)
    assert headers["retry-after"] == "31"
    assert headers["x-ratelimit-limit-tokens"] == "1000"
    assert headers["x-ratelimit-reset-tokens"] == "1m30s"
