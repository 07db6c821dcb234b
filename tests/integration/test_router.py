"""The difficulty router and the verified pattern cache in a real gateway: a scripted
upstream, the session's Redis, real nsjail (docs/routing.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis

from config import Settings
from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.admin_support import BEARER, MASTER_KEY, SESSION_SECRET, AdminApi
from tests.integration.conftest import RunningGateway, make_settings

pytestmark = pytest.mark.nsjail

GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
DOCTEST_PROMPT = (
    'Complete this function:\n```python\ndef add(a, b):\n    """Add two numbers.\n'
    '    >>> add(2, 3)\n    5\n    """\n```'
)
PROSE = "What is the capital of France? Answer in one sentence."
TITLE_TASK = [
    {"role": "system", "content": "You are a title generator. Write a title for this chat."},
    {"role": "user", "content": "Write a Python function add(a, b) that returns the sum."},
]
CHAT = "/v1/chat/completions"
_TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}


def settings_for(
    upstream: ScriptedUpstream, prefix: str | None = None, **strategy: Any
) -> Settings:
    model: dict[str, Any] = {"name": "coder", "upstreams": [upstream.url]}
    if strategy:
        model["strategy"] = {"type": "router", **strategy}
    sections: dict[str, Any] = {
        "server": {"master_key": MASTER_KEY},
        "accounts": {"session_secret": SESSION_SECRET},
    }
    settings = make_settings([model], **sections)
    if prefix is not None:  # a second gateway on the first one's data
        store = msgspec.structs.replace(settings.redis, prefix=prefix)
        settings = msgspec.structs.replace(settings, redis=store)
    return settings


@pytest.fixture
def good_upstream(upstream_factory: Callable[..., ScriptedUpstream]) -> ScriptedUpstream:
    return upstream_factory(Script(content=GOOD))


@pytest.fixture
def admin(
    gateway_factory: Callable[[Settings], RunningGateway], good_upstream: ScriptedUpstream
) -> Iterator[AdminApi]:
    api = AdminApi(gateway_factory(settings_for(good_upstream)))
    yield api
    api.close()


def key_for(api: AdminApi, owner: str) -> dict[str, str]:
    reply = api.master.post("/keys", json={"name": f"key-{owner}", "owner": owner})
    assert reply.status_code == 201, reply.text
    return {"authorization": f"Bearer {reply.json()['key']}"}


def ask(
    gw: RunningGateway, headers: dict[str, str], content: str = DOCTEST_PROMPT, **body: Any
) -> httpx.Response:
    payload = {"model": "coder", "messages": [{"role": "user", "content": content}], **body}
    reply = httpx.post(gw.url + CHAT, json=payload, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply


def candidates(upstream: ScriptedUpstream) -> int:
    return len(upstream.requests_to(CHAT))


def test_a_code_request_with_examples_is_routed_and_then_served_from_the_cache(
    admin: AdminApi, good_upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    alice = key_for(admin, admin.create_user("alice"))
    first = ask(gw, alice)
    assert first.headers["x-atlas-route"] in {"fast", "standard", "hard"}
    assert 0.0 <= float(first.headers["x-atlas-difficulty"]) <= 1.0
    assert int(first.headers["x-atlas-verified"]) >= 1  # candidates that passed
    assert first.headers["x-atlas-tests"] == "prompt:1"
    sent = candidates(good_upstream)
    assert sent >= 1

    again = ask(gw, alice, temperature=0.7)  # sampling does not change the key
    assert again.headers["x-atlas-route"] == "cache"
    assert again.headers["x-atlas-k"] == "0"
    assert "x-atlas-difficulty" not in again.headers
    assert again.json()["choices"][0]["message"]["content"] == GOOD
    assert candidates(good_upstream) == sent, "a cache hit called the upstream"
    # Nothing was generated for the hit: the ledger's generated tokens stay those of the first.
    metrics = httpx.get(gw.url + "/metrics", headers=BEARER).text
    assert 'atlas_cache_lookups_total{model="coder",result="hit"} 1.0' in metrics
    assert 'atlas_router_routes_total{model="coder",route="cache"} 1.0' in metrics

    # A stream replays the stored answer as chunks.
    payload = {
        "model": "coder",
        "messages": [{"role": "user", "content": DOCTEST_PROMPT}],
        "stream": True,
    }
    with httpx.stream("POST", gw.url + CHAT, json=payload, headers=alice, timeout=60) as reply:
        assert reply.headers["x-atlas-route"] == "cache"
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in lines[:-1]
    )
    assert text == GOOD
    assert candidates(good_upstream) == sent


def test_the_cache_is_scoped_by_tenant(admin: AdminApi, good_upstream: ScriptedUpstream) -> None:
    gw = admin.gateway
    alice_id = admin.create_user("alice")
    alice, alice_again = key_for(admin, alice_id), key_for(admin, alice_id)
    bob = key_for(admin, admin.create_user("bob"))
    assert ask(gw, alice).headers["x-atlas-route"] != "cache"
    assert ask(gw, alice_again).headers["x-atlas-route"] == "cache"  # the owner's scope
    sent = candidates(good_upstream)
    assert ask(gw, bob).headers["x-atlas-route"] != "cache"
    assert candidates(good_upstream) > sent


def test_a_poisoned_entry_is_not_served_and_is_evicted(
    admin: AdminApi, good_upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    alice = key_for(admin, admin.create_user("alice"))
    ask(gw, alice)
    assert gw.settings.redis.url is not None
    client = redis.Redis.from_url(gw.settings.redis.url)
    poisoned = list(client.scan_iter(match=f"{gw.settings.redis.prefix}cache:coder:*:e:*"))
    assert len(poisoned) == 1
    entry = json.loads(client.get(poisoned[0]))  # type: ignore[arg-type]
    entry["code"] = "def add(a, b):\n    return a - b\n"
    entry["completion"]["choices"][0]["message"]["content"] = BAD
    client.set(poisoned[0], json.dumps(entry))
    client.close()
    sent = candidates(good_upstream)
    reply = ask(gw, alice)
    assert reply.headers["x-atlas-route"] != "cache"
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    assert candidates(good_upstream) > sent
    metrics = httpx.get(gw.url + "/metrics", headers=BEARER).text
    assert 'atlas_cache_lookups_total{model="coder",result="poisoned"} 1.0' in metrics
    assert 'atlas_cache_evictions_total{model="coder",reason="poisoned"} 1.0' in metrics
    # The fresh verified answer replaced it.
    assert ask(gw, alice).json()["choices"][0]["message"]["content"] == GOOD


def test_requests_the_bandit_must_not_touch_go_straight_to_their_route(
    admin: AdminApi, good_upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    prose = ask(gw, BEARER, PROSE)
    assert prose.headers["x-atlas-route"] == "fast" and prose.headers["x-atlas-k"] == "1"
    assert "x-atlas-difficulty" not in prose.headers
    assert candidates(good_upstream) == 1

    title = httpx.post(
        gw.url + CHAT, json={"model": "coder", "messages": TITLE_TASK}, headers=BEARER, timeout=30
    )
    assert title.headers["x-atlas-route"] == "fast" and title.headers["x-atlas-k"] == "1"
    assert candidates(good_upstream) == 2

    # A code request without examples or tests: nothing to verify with, passed through.
    plain = ask(gw, BEARER, "Write a Python function that reverses a string.")
    assert plain.headers["x-atlas-route"] == "fast" and "x-atlas-difficulty" not in plain.headers

    forced = ask(gw, BEARER, DOCTEST_PROMPT, atlas={"k": 3})
    assert forced.headers["x-atlas-route"] == "best-of-k" and forced.headers["x-atlas-k"] == "3"

    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with_tools = ask(gw, BEARER, DOCTEST_PROMPT, tools=tools)
    assert with_tools.headers["x-atlas-route"] == "fast"

    agent_turn = [
        {"role": "user", "content": DOCTEST_PROMPT},
        {"role": "assistant", "content": "", "tool_calls": [_TOOL_CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "def add(a, b): ..."},
    ]
    turn = httpx.post(
        gw.url + CHAT, json={"model": "coder", "messages": agent_turn}, headers=BEARER, timeout=30
    )
    assert turn.status_code == 200, turn.text
    assert turn.headers["x-atlas-route"] == "fast" and "x-atlas-difficulty" not in turn.headers


def test_the_keys_max_k_caps_every_route(admin: AdminApi, good_upstream: ScriptedUpstream) -> None:
    gw = admin.gateway
    owner = admin.create_user("carol")
    reply = admin.master.post("/keys", json={"name": "one", "owner": owner, "limits": {"max_k": 1}})
    assert reply.status_code == 201, reply.text
    capped = {"authorization": f"Bearer {reply.json()['key']}"}
    answer = ask(gw, capped)
    assert answer.headers["x-atlas-route"] == "fast" and answer.headers["x-atlas-k"] == "1"
    assert answer.headers["x-atlas-verified"] == "1"  # k = 1 is still verified


def test_posteriors_move_with_outcomes_and_survive_a_restart(
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content=BAD))  # every route fails the example
    first = gateway_factory(settings_for(upstream, cache={"enabled": False}, escalate=False))
    routes = [ask(first, BEARER).headers["x-atlas-route"] for _ in range(3)]
    assert all(r in {"fast", "standard", "hard"} for r in routes)

    def failures(gw: RunningGateway) -> dict[str, int]:
        reply = httpx.get(gw.url + "/admin/api/routing", headers=BEARER, timeout=10)
        assert reply.status_code == 200, reply.text
        (model,) = reply.json()["models"]
        assert model["model"] == "coder" and len(model["bins"]) == 4
        counts: dict[str, int] = {}
        for b in model["bins"]:
            for r in b["routes"]:
                assert r["alpha"] == 1.0  # never passed
                counts[r["route"]] = counts.get(r["route"], 0) + int(r["beta"] - 1)
        return counts

    seen = failures(first)
    assert sum(seen.values()) == 3
    assert seen == {r: routes.count(r) for r in ("fast", "standard", "hard")}
    metrics = httpx.get(first.url + "/metrics", headers=BEARER).text
    assert "atlas_router_posterior{" in metrics
    first.stop()

    second = gateway_factory(settings_for(upstream, prefix=first.settings.redis.prefix))
    assert failures(second) == seen


def test_only_an_admin_reads_the_routing_statistics(admin: AdminApi) -> None:
    admin.create_user("dave")
    login = admin.log_in("dave")
    assert login.client.get("/routing").status_code == 403
    assert admin.master.get("/routing").status_code == 200


def test_a_streamed_verified_answer_fills_the_cache(
    admin: AdminApi, good_upstream: ScriptedUpstream
) -> None:
    gw = admin.gateway
    alice = key_for(admin, admin.create_user("alice"))
    payload = {
        "model": "coder",
        "messages": [{"role": "user", "content": DOCTEST_PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", gw.url + CHAT, json=payload, headers=alice, timeout=60) as reply:
        assert reply.headers["x-atlas-route"] in {"fast", "standard", "hard"}
        assert "x-atlas-difficulty" in reply.headers
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    hit = ask(gw, alice)
    assert hit.headers["x-atlas-route"] == "cache"
    assert hit.json()["choices"][0]["message"]["content"] == GOOD
    assert hit.json()["usage"]["completion_tokens"] > 0  # the stored answer's own usage


def test_a_model_with_an_embedding_upstream_finds_near_matches_by_embedding(
    gateway_factory: Callable[[Settings], RunningGateway], good_upstream: ScriptedUpstream
) -> None:
    settings = settings_for(good_upstream)
    model = msgspec.structs.replace(settings.models[0], embedding_upstreams=(good_upstream.url,))
    gw = gateway_factory(msgspec.structs.replace(settings, models=(model,)))
    first = ask(gw, BEARER)
    # The same task under another system prompt: another key, the same embedding.
    payload = {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "Answer with code only."},
            {"role": "user", "content": DOCTEST_PROMPT},
        ],
    }
    second = httpx.post(gw.url + CHAT, json=payload, headers=BEARER, timeout=60)
    assert second.headers["x-atlas-route"] != "cache"
    # Familiarity went from 1 (nothing stored) to 0 (cosine 1): D falls by its weight.
    drop = float(first.headers["x-atlas-difficulty"]) - float(second.headers["x-atlas-difficulty"])
    assert abs(drop - 0.30) < 0.002
    asked = good_upstream.requests_to("/v1/embeddings")
    assert [r.headers["x-atlas-purpose"] for r in asked] == ["router", "router"]
    assert gw.settings.redis.url is not None
    client = redis.Redis.from_url(gw.settings.redis.url)
    vectors = f"{gw.settings.redis.prefix}cache:coder:t:master:vec"
    assert client.hlen(vectors) == 2
    client.close()


def test_a_failed_cheap_start_escalates_with_new_seeds(
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    # Seed 0 (the client's own greedy request) is wrong; any sampled one is right.
    upstream = upstream_factory(Script(content_for=lambda b: BAD if b["seed"] == 0 else GOOD))
    # Always start cheap, and no repair round (it would fix candidate 0 within `fast`).
    gw = gateway_factory(settings_for(upstream, cost_weight=100.0, best_of_k={"repair_rounds": 0}))
    reply = ask(gw, BEARER)
    assert reply.headers["x-atlas-route"] == "standard"
    assert reply.headers["x-atlas-escalated"] == "1"
    assert reply.headers["x-atlas-k"] == "5"
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    sent = [
        r.body for r in upstream.requests_to(CHAT) if r.headers["x-atlas-purpose"] == "candidate"
    ]
    # The escalated route's first wave (two new seeds) has a passing candidate, so k=5 is
    # a ceiling not reached: 1 + 2 new, none twice.
    assert sorted(b["seed"] for b in sent) == [0, 1, 2]
    assert all(b["temperature"] > 0 for b in sent if b["seed"] > 0)
    # The bandit learns that the start failed.
    routing = httpx.get(gw.url + "/admin/api/routing", headers=BEARER, timeout=10).json()
    fast = [r for b in routing["models"][0]["bins"] for r in b["routes"] if r["route"] == "fast"]
    assert sum(r["beta"] - 1 for r in fast) == 1 and sum(r["alpha"] - 1 for r in fast) == 0
