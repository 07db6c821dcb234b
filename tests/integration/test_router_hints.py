"""Strategy hints and `"atlas": {"cache": false}` in a real gateway: a scripted upstream,
the session's Redis, real nsjail (docs/routing.md, "Strategy hints")."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
import redis

from config import Settings
from tests.fakes.upstream import Received, Script, ScriptedUpstream
from tests.integration.admin_support import BEARER, AdminApi
from tests.integration.conftest import RunningGateway
from tests.integration.test_router import CHAT, DOCTEST_PROMPT, GOOD, ask, key_for, settings_for

pytestmark = pytest.mark.nsjail

INTRO = "Verified solutions to similar problems from this workspace"
SIMILAR_PROMPT = (
    'Complete this function:\n```python\ndef add3(a, b, c):\n    """Add three numbers.\n'
    '    >>> add3(2, 3, 4)\n    9\n    """\n```'
)
GOOD_3 = "Sure:\n```python\ndef add3(a, b, c):\n    return a + b + c\n```"
# Verified like GOOD, but thousands of characters long.
HUGE = (
    "```python\ndef add(a, b):\n"
    + "".join(f"    # step {i}: nothing to see here, only a long answer\n" for i in range(300))
    + "    return a + b\n```"
)
# One route of k = 1: one candidate per request, no escalation.
ONE_ROUTE: dict[str, Any] = {"routes": {"fast": 1, "standard": 1, "hard": 1}}


def answers(first: str = GOOD) -> Callable[[dict[str, Any]], str]:
    """The add3 answer to the add3 problem, `first` to the add problem."""

    def content(body: dict[str, Any]) -> str:
        return GOOD_3 if "add3" in str(body["messages"][-1]["content"]) else first

    return content


def hinting(upstream: ScriptedUpstream, **cache: Any) -> Settings:
    options = {"hints": True, "hint_min_similarity": 0.2, **cache}
    return settings_for(upstream, **ONE_ROUTE, cache=options)


def candidate_requests(upstream: ScriptedUpstream, since: int = 0) -> list[Received]:
    sent = upstream.requests_to(CHAT)[since:]
    return [r for r in sent if r.headers.get("x-atlas-purpose") == "candidate"]


def system_text(request: Received) -> str:
    first = request.body["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


@pytest.fixture
def upstream(upstream_factory: Callable[..., ScriptedUpstream]) -> ScriptedUpstream:
    return upstream_factory(Script(content_for=answers()))


@pytest.fixture
def admin(
    gateway_factory: Callable[[Settings], RunningGateway], upstream: ScriptedUpstream
) -> Iterator[AdminApi]:
    api = AdminApi(gateway_factory(hinting(upstream)))
    yield api
    api.close()


def test_a_verified_similar_answer_of_the_scope_is_a_hint_to_the_candidates_only(
    admin: AdminApi, upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    alice = key_for(admin, admin.create_user("alice"))
    first = ask(gw, alice)
    assert first.headers["x-atlas-hints"] == "0"  # nothing stored yet
    assert all(system_text(r) == "" for r in candidate_requests(upstream))

    sent = len(upstream.requests_to(CHAT))
    reply = ask(gw, alice, SIMILAR_PROMPT)
    assert reply.headers["x-atlas-hints"] == "1"
    assert reply.headers["x-atlas-tests"] == "prompt:1"  # the client's own examples
    hinted = candidate_requests(upstream, sent)
    assert hinted
    for request in hinted:
        text = system_text(request)
        assert text.startswith(INTRO)
        assert "def add(a, b):" in text and "return a + b" in text
        assert request.body["messages"][-1] == {"role": "user", "content": SIMILAR_PROMPT}
    # What comes back is the model's answer, not the hint.
    content = reply.json()["choices"][0]["message"]["content"]
    assert content == GOOD_3 and INTRO not in reply.text

    # The answer was stored under the client's request, not the hinted one.
    again = ask(gw, alice, SIMILAR_PROMPT)
    assert again.headers["x-atlas-route"] == "cache"
    assert INTRO not in again.text
    assert gw.settings.redis.url is not None
    client = redis.Redis.from_url(gw.settings.redis.url)
    keys = cast("list[bytes]", client.keys(f"{gw.settings.redis.prefix}cache:coder:*:e:*"))
    problems = {json.loads(cast("bytes", client.get(k)))["problem"] for k in keys}
    client.close()
    assert problems == {DOCTEST_PROMPT, SIMILAR_PROMPT}


def test_another_tenants_entries_are_never_hints(
    admin: AdminApi, upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    ask(gw, key_for(admin, admin.create_user("alice")))
    sent = len(upstream.requests_to(CHAT))
    reply = ask(gw, key_for(admin, admin.create_user("bob")), SIMILAR_PROMPT)
    assert reply.headers["x-atlas-hints"] == "0"
    assert all(system_text(r) == "" for r in candidate_requests(upstream, sent))


def test_a_streamed_routed_answer_says_how_many_hints_it_had(
    admin: AdminApi, upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    ask(gw, BEARER)
    payload = {"model": "coder", "messages": [{"role": "user", "content": SIMILAR_PROMPT}]}
    with httpx.stream(
        "POST", gw.url + CHAT, json={**payload, "stream": True}, headers=BEARER, timeout=60
    ) as reply:
        assert reply.headers["x-atlas-hints"] == "1"
        body = "".join(reply.iter_lines())
    assert INTRO not in body


def test_hints_stay_within_their_budget(
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=answers(first=HUGE)))
    gw = gateway_factory(hinting(upstream, hint_budget_tokens=100))
    assert ask(gw, BEARER).headers["x-atlas-verified"] == "1"  # the huge answer is stored
    sent = len(upstream.requests_to(CHAT))
    assert ask(gw, BEARER, SIMILAR_PROMPT).headers["x-atlas-hints"] == "1"
    (request,) = candidate_requests(upstream, sent)
    text = system_text(request)
    assert text.startswith(INTRO) and "def add(a, b):" in text
    assert len(text) <= 100 * 4
    assert "(truncated)" in text


def test_hints_are_off_by_default_and_a_request_turns_them_on_or_off(
    gateway_factory: Callable[[Settings], RunningGateway], upstream: ScriptedUpstream
) -> None:
    off = gateway_factory(settings_for(upstream, **ONE_ROUTE, cache={"hint_min_similarity": 0.2}))
    ask(off, BEARER)
    sent = len(upstream.requests_to(CHAT))
    plain = ask(off, BEARER, SIMILAR_PROMPT, atlas={"cache": False})
    assert "x-atlas-hints" not in plain.headers
    asked = ask(off, BEARER, SIMILAR_PROMPT, atlas={"hints": True, "cache": False})
    assert asked.headers["x-atlas-hints"] == "1"
    requests = candidate_requests(upstream, sent)
    assert [bool(system_text(r)) for r in requests] == [False, True]

    on = gateway_factory(hinting(upstream))
    ask(on, BEARER)
    sent = len(upstream.requests_to(CHAT))
    refused = ask(on, BEARER, SIMILAR_PROMPT, atlas={"hints": False})
    assert "x-atlas-hints" not in refused.headers
    assert all(system_text(r) == "" for r in candidate_requests(upstream, sent))


def test_cache_false_neither_hits_nor_stores(admin: AdminApi, upstream: ScriptedUpstream) -> None:
    gw = admin.gateway
    assert gw.settings.redis.url is not None
    client = redis.Redis.from_url(gw.settings.redis.url)
    entries = f"{gw.settings.redis.prefix}cache:coder:*:e:*"
    for _ in range(2):
        reply = ask(gw, BEARER, atlas={"cache": False})
        assert reply.headers["x-atlas-route"] != "cache"
        assert reply.headers["x-atlas-verified"] == "1"
    assert client.keys(entries) == []
    assert ask(gw, BEARER).headers["x-atlas-route"] != "cache"  # stored now
    assert len(cast("list[bytes]", client.keys(entries))) == 1
    client.close()
    sent = len(upstream.requests_to(CHAT))
    regenerated = ask(gw, BEARER, atlas={"cache": False})
    assert regenerated.headers["x-atlas-route"] != "cache"
    assert len(upstream.requests_to(CHAT)) > sent
    assert ask(gw, BEARER).headers["x-atlas-route"] == "cache"


@pytest.mark.parametrize("field", ["hints", "cache"])
def test_a_control_that_is_not_a_bool_is_a_400(admin: AdminApi, field: str) -> None:
    payload = {
        "model": "coder",
        "messages": [{"role": "user", "content": DOCTEST_PROMPT}],
        "atlas": {field: "yes"},
    }
    reply = httpx.post(admin.gateway.url + CHAT, json=payload, headers=BEARER, timeout=30)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_value" or error["type"] == "invalid_request_error"
    assert field in (error.get("param") or error["message"])
