"""Adaptive waves and the fair, slot-aware queue, over real HTTP on loopback: a scripted
upstream with few slots and a per-token delay, the session's Redis, real nsjail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.accounts_admin import KeyAdmin
from tests.integration.conftest import RunningGateway, make_settings, wait_for
from tests.integration.test_best_of_k import BAD, GOOD, PROMPT, TESTS, ask, by_seed

pytestmark = [pytest.mark.nsjail, pytest.mark.timeout(120)]


def start(
    gateway_factory: Callable[..., RunningGateway],
    scripted: ScriptedUpstream,
    *,
    slots: int,
    strategy: dict[str, Any] | None = None,
    **sections: Any,
) -> RunningGateway:
    model: dict[str, Any] = {
        "name": "coder",
        "upstreams": [{"url": scripted.url, "max_in_flight": slots}],
    }
    if strategy is not None:
        model["strategy"] = {"type": "best_of_k", "k": 1, **strategy}
    return gateway_factory(make_settings([model], **sections))


def chat(gw: RunningGateway, body: dict[str, Any], key: str | None = None, **kw: Any) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        gw.base_url + "/chat/completions", json=body, headers=headers, timeout=kw.get("timeout", 60)
    )


def purposes(upstream: ScriptedUpstream) -> list[str]:
    return [r.headers.get("x-atlas-purpose", "") for r in upstream.received]


def test_a_first_wave_that_passes_is_the_only_wave(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content=GOOD))
    gw = start(gateway_factory, upstream, slots=8)
    reply = chat(gw, {"model": "coder", "messages": ask(), "atlas": {"k": 8, "tests": TESTS}})
    assert reply.status_code == 200 and reply.headers["x-atlas-k"] == "8"
    assert reply.headers["x-atlas-verified"] != "0"
    # Eight slots free, but the first wave is two and one of them passed: no more sent.
    assert purposes(upstream) == ["candidate", "candidate"]


def test_more_waves_each_as_large_as_the_free_slots_until_one_passes(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({2: GOOD})))
    gw = start(gateway_factory, upstream, slots=2)
    body = {"model": "coder", "messages": ask(), "seed": 0, "atlas": {"k": 8, "tests": TESTS}}
    reply = chat(gw, body)
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    # Waves of two (the slots): seeds 0 and 1 fail, 2 passes; 4..7 are never asked for.
    seeds = sorted(r.body["seed"] for r in upstream.received)
    assert seeds == [0, 1, 2, 3] and purposes(upstream) == ["candidate"] * 4
    assert upstream.most_in_flight <= 2


def test_k_20_searches_on_two_slots_never_fail_their_own_requests_in_the_queue(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    # Half right, half wrong: the candidates disagree on the model-written tests, so every
    # search runs all 20; three at once queue far longer than the 0.25 s queue timeout.
    tests = "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 4\n```"
    upstream = upstream_factory(
        Script(
            content_for=lambda body: GOOD if body.get("seed", 0) % 2 else BAD,
            tests_content=tests,
            token_delay_s=0.004,
        )
    )
    gw = start(
        gateway_factory,
        upstream,
        slots=2,
        strategy={"time_budget": 0, "repair_rounds": 0},
        upstream={"queue_timeout_s": 0.25},
    )
    body = {"model": "coder", "messages": ask(), "atlas": {"k": 20, "debug": True}}
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: chat(gw, body), range(3)))
    for reply in replies:
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-atlas-tests"].startswith("generated:")
        report = reply.json()["atlas"]
        assert len(report["candidates"]) == 20
        assert not [c for c in report["candidates"] if c.get("error")], report["candidates"]
    sent = purposes(upstream)
    assert sent.count("candidate") == 60 and sent.count("tests") == 15  # none lost
    assert upstream.most_in_flight <= 2


def test_another_keys_request_is_served_before_a_bursting_keys_queue(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content=BAD, token_delay_s=0.05))  # 0.4 s an answer
    gw = start(gateway_factory, upstream, slots=1, strategy={"time_budget": 0})
    admin = KeyAdmin(gw.settings)
    burst, other = admin.key().key, admin.key().key
    searches = {"model": "coder", "messages": ask(), "atlas": {"k": 20, "tests": TESTS}}

    def search() -> None:
        try:
            chat(gw, searches, burst, timeout=4)
        except httpx.ReadTimeout:
            pass  # leaving cancels the rest of the search

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    pool = gw.services.models["coder"].generation
    assert wait_for(lambda: pool.queued >= 3), "the burst did not queue"
    before = len(upstream.received)
    alone = {"model": "coder", "messages": ask("bob: " + PROMPT)}
    reply = chat(gw, alone, other)
    assert reply.status_code == 200 and reply.headers["x-atlas-route"] == "fast"
    arrivals = [r.body["messages"][-1]["content"] for r in upstream.received[before:]]
    bob = next(i for i, text in enumerate(arrivals) if text.startswith("bob: "))
    # First in line (at most one slot was already on its way to the burst), though three
    # of the burst's requests were queued before it.
    assert bob <= 1, arrivals[: bob + 1]
    for thread in threads:
        thread.join()


def test_a_full_queue_is_a_429_with_retry_after(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(delay_s=1.5))
    gw = start(gateway_factory, upstream, slots=1, upstream={"max_queue_per_key": 1})
    body = {"model": "coder", "messages": ask()}
    pool = gw.services.models["coder"].generation
    with ThreadPoolExecutor(2) as running:
        first = running.submit(chat, gw, body)
        assert wait_for(lambda: len(upstream.received) == 1)
        second = running.submit(chat, gw, body)
        assert wait_for(lambda: pool.queued == 1)
        refused = chat(gw, body)
        assert refused.status_code == 429
        assert refused.headers["retry-after"].isdigit()
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "queue_full"
        assert "waiting for a slot" in error["message"]
        assert first.result().status_code == 200 and second.result().status_code == 200
