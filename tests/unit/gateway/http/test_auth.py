"""Where the edge finds a request's key, and what a caller may do."""

from __future__ import annotations

import pytest

from gateway.accounts.schema import ApiKey, KeyLimits
from gateway.http.auth import ANONYMOUS, MASTER, Caller, presented_key


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer sk-a"}, "sk-a"),
        ({"authorization": "bearer  sk-a "}, "sk-a"),
        ({"x-api-key": "sk-b"}, "sk-b"),
        ({"api-key": "sk-c"}, "sk-c"),
        # Bearer first, then x-api-key, then api-key.
        ({"authorization": "Bearer sk-a", "x-api-key": "sk-b", "api-key": "sk-c"}, "sk-a"),
        ({"x-api-key": "sk-b", "api-key": "sk-c"}, "sk-b"),
        # Another scheme, or an empty value, is no key there: the next header is read.
        ({"authorization": "Basic Zm9vOmJhcg==", "api-key": "sk-c"}, "sk-c"),
        ({"authorization": "Bearer ", "x-api-key": " "}, None),
        ({}, None),
    ],
)
def test_the_key_is_read_from_bearer_then_x_api_key_then_api_key(
    headers: dict[str, str], key: str | None
) -> None:
    assert presented_key(headers) == key


def test_callers_without_a_key_have_no_limits_and_fixed_usage_ids() -> None:
    assert (MASTER.usage_id, ANONYMOUS.usage_id) == ("master", "anonymous")
    assert MASTER.limits == KeyLimits() and MASTER.allows("anything")
    record = ApiKey(
        id="0123456789ab",
        digest="d",
        owner="u1",
        name="n",
        last_four="abcd",
        created_at=0.0,
        models=("coder",),
        limits=KeyLimits(rpm=5, max_k=2),
    )
    caller = Caller("key", record)
    assert (caller.usage_id, caller.user_id) == ("0123456789ab", "u1")
    assert caller.limits.max_k == 2
    assert caller.allows("coder") and not caller.allows("other")
