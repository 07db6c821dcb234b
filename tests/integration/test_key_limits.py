"""A key's limits and usage at the edge, over real Redis and real HTTP: requests per
minute (429 with Retry-After and x-ratelimit-*, then recovery), the concurrency cap
(a stream's slot freed when its client leaves), best-of-k charged for every
candidate, usage that adds up to the requests made, and Redis failing (503)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.accounts_admin import KeyAdmin
from tests.integration.conftest import RunningGateway, make_settings, wait_for
from tests.own_redis import OwnRedis

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

MASTER_KEY = "sk-master-of-this-gateway"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT = {"model": "coder", "messages": MESSAGES}
CONTENT = "one two three four five"
COST = 7 + 5  # the scripted upstream's usage: 7 prompt tokens, one per word
FAST_USAGE = {"usage": {"flush_interval_s": 0.1}}


def start(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, **sections: Any
) -> tuple[RunningGateway, KeyAdmin]:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}],
            server={"master_key": MASTER_KEY},
            accounts=FAST_USAGE,
            **sections,
        )
    )
    return gw, KeyAdmin(gw.settings)


def chat(gw: RunningGateway, key: str, **body: Any) -> httpx.Response:
    return httpx.post(
        gw.base_url + "/chat/completions",
        json={**CHAT, **body},
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    )


def sdk(gw: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=20)


def test_requests_per_minute_refuse_with_429_and_recover(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream)
    key = admin.key(rpm=30).key  # refills one request every 2 s
    first = chat(gw, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "30"
    assert first.headers["x-ratelimit-remaining-requests"] == "29"
    answered = 1
    while (refused := chat(gw, key)).status_code == 200:
        answered += 1
        assert answered <= 31, "the rpm limit never refused"
    assert answered >= 30
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert "requests per minute" in error["message"]
    # Whole seconds until one request is back (2 s each, some refilled during the burst).
    assert refused.headers["retry-after"] in ("1", "2")
    assert refused.headers["x-ratelimit-limit-requests"] == "30"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"].endswith("s")
    # A refused request never reached the upstream.
    assert len(upstream.requests_to("/v1/chat/completions")) == answered
    time.sleep(float(refused.headers["retry-after"]))
    assert chat(gw, key).status_code == 200
    # The master key has no limits.
    assert chat(gw, MASTER_KEY).status_code == 200
    # What the openai SDK makes of it (one request a minute: the next waits 60 s).
    slow = sdk(gw, admin.key(rpm=1).key)
    assert slow.chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as error:
        slow.chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    assert error.value.code == "rate_limit_exceeded"
    assert error.value.response.headers["retry-after"] == "60"


def test_the_concurrency_cap_and_a_stream_frees_its_slot_when_its_client_leaves(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    slow = lambda body: 1.0 if body.get("max_tokens") == 99 else 0  # noqa: E731
    upstream = upstream_factory(Script(delay_for=slow, chunk_delay_s=0.5))
    gw, admin = start(gateway_factory, upstream)
    key = admin.key(concurrency=1).key
    results: list[int] = []
    running = threading.Thread(
        target=lambda: results.append(chat(gw, key, max_tokens=99).status_code)
    )
    running.start()
    assert wait_for(lambda: len(upstream.received) == 1)
    refused = chat(gw, key)
    assert refused.status_code == 429
    assert "in flight" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"]
    running.join()
    assert results == [200]
    assert chat(gw, key).status_code == 200  # the slot came back with the answer

    # A stream holds its slot while it runs; a client that leaves gives it back.
    with httpx.Client(timeout=20) as client:
        with client.stream(
            "POST",
            gw.base_url + "/chat/completions",
            json={**CHAT, "stream": True},
            headers={"x-api-key": key},
        ) as stream:
            assert stream.status_code == 200
            frames = stream.iter_bytes()  # held: a dropped iterator closes the response
            assert next(frames).startswith(b"data: ")
            assert chat(gw, key).status_code == 429
    assert wait_for(lambda: chat(gw, key).status_code == 200, timeout=3)


def test_best_of_k_is_charged_for_every_candidate(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content=CONTENT))
    gw, admin = start(gateway_factory, upstream, sandbox={"backend": "disabled"})
    budget = 100_000
    created = admin.key(daily_tokens=budget)
    code = [{"role": "user", "content": "Write a python function add(a, b)."}]
    raw = sdk(gw, created.key).chat.completions.with_raw_response.create(
        model="coder", messages=code, extra_body={"atlas": {"k": 3}}
    )  # type: ignore[arg-type]
    sent = len(upstream.requests_to("/v1/chat/completions"))
    # Without a sandbox nothing tells candidates apart: only the first wave goes out.
    assert sent == 2
    assert raw.headers["x-atlas-k"] == "3"
    assert raw.headers["x-atlas-total-tokens"] == str(sent * COST)
    assert raw.headers["x-ratelimit-limit-tokens"] == str(budget)
    assert raw.headers["x-ratelimit-remaining-tokens"] == str(budget - sent * COST)
    assert raw.parse().usage.total_tokens == COST  # type: ignore[union-attr]  # the answer's own

    # Streamed, the same: charged when the stream ends.
    chunks = list(
        sdk(gw, created.key).chat.completions.create(
            model="coder", messages=code, stream=True, extra_body={"atlas": {"k": 2}}
        )  # type: ignore[call-overload]
    )
    assert chunks
    after = chat(gw, created.key)
    total = len(upstream.requests_to("/v1/chat/completions"))
    assert after.headers["x-ratelimit-remaining-tokens"] == str(budget - total * COST)

    assert wait_for(lambda: admin.usage(created.record.id).requests == 3)
    usage = admin.usage(created.record.id)
    assert usage.generated_tokens == total * COST
    assert (usage.prompt_tokens, usage.completion_tokens) == (3 * 7, 3 * 5)
    assert usage.routes == {"best-of-k": 2, "fast": 1}
    assert usage.k == {3: 1, 2: 1, 1: 1}
    assert usage.verified == 0  # nothing could be verified: the sandbox is off


def test_usage_adds_up_to_the_requests_made(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    gw, admin = start(gateway_factory, upstream_factory(Script(content=CONTENT)))
    created = admin.key()
    client = sdk(gw, created.key)
    for _ in range(3):
        client.chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    for include_usage in (True, False):
        stream = client.chat.completions.create(
            model="coder",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": include_usage},
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == CONTENT
    client.embeddings.create(model="coder", input="hi")
    sdk(gw, MASTER_KEY).chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]

    assert wait_for(lambda: admin.usage(created.record.id).requests == 6)
    usage = admin.usage(created.record.id)
    assert usage.routes == {"fast": 5, "embeddings": 1}
    assert (usage.prompt_tokens, usage.completion_tokens) == (5 * 7, 5 * 5)
    assert usage.generated_tokens == 5 * COST
    assert wait_for(lambda: admin.usage("master").requests == 1)

    metrics = httpx.get(gw.url + "/metrics", headers={"authorization": f"Bearer {MASTER_KEY}"})
    line = (
        f'atlas_usage_requests_total{{key_id="{created.record.id}",model="coder",'
        f'user_id="{created.record.owner}"}} 6.0'
    )
    assert line in metrics.text
    assert (
        'atlas_usage_requests_total{key_id="master",model="coder",user_id=""} 1.0' in metrics.text
    )
    assert created.key not in metrics.text and created.key[-20:] not in metrics.text


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_failing_is_a_503_naming_redis(
    gateway_factory: Callable[..., RunningGateway],
    upstream: ScriptedUpstream,
    own_redis: OwnRedis,
) -> None:
    gw, admin = start(
        gateway_factory, upstream, redis={"url": own_redis.url, "prefix": "limits-down:"}
    )
    key = admin.key(rpm=100).key
    assert chat(gw, key).status_code == 200

    # Refusing writes (out of memory): the key is read, its limits cannot be checked.
    conn = redis.Redis(port=own_redis.port)
    conn.config_set("maxmemory", 1)
    try:
        refused = chat(gw, key)
    finally:
        conn.config_set("maxmemory", 0)
        conn.close()
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "redis_unavailable" and "Redis" in error["message"]
    assert "limits cannot be checked" in error["message"]

    # Down: the key cannot be checked, so it is not let in; the master key needs no Redis.
    own_redis.stop()
    down = chat(gw, key)
    assert down.status_code == 503, down.text
    assert down.json()["error"]["code"] == "redis_unavailable"
    assert "Redis" in down.json()["error"]["message"]
    assert down.headers["retry-after"] == "1"
    assert chat(gw, MASTER_KEY).status_code == 200
