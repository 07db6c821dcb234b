"""The client's user agent and session ids reach the upstream on pass-through (JSON,
stream, n > 1, completions, embeddings) and best-of-k calls; credentials, cookies and
hop-by-hop headers never do."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

MASTER = "sk-master-" + "f" * 32
SESSION = {
    "user-agent": "opencode/1.18 ai-sdk/5",
    "x-session-affinity": "slot-7",
    "session_id": "ses_123",
    "session-id": "0199-abc",
    "x-session-id": "s-9",
    "thread-id": "th-1",
    "x-client-request-id": "creq-5",
    "x-claude-code-session-id": "cc-1",
}
SECRETS = {
    "authorization": f"Bearer {MASTER}",
    "cookie": "atlas_session=secret",
    "x-api-key": "sk-other-secret",
    "api-key": "sk-third-secret",
    "proxy-authorization": "Basic c2VjcmV0",
    "connection": "keep-alive, x-hop",
    "x-hop": "1",
    "te": "trailers",
    "x-forwarded-for": "10.0.0.1",
}
MESSAGES = [{"role": "user", "content": "Say hello."}]
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"


@pytest.fixture
def keyed(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    models = [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}]
    return gateway_factory(make_settings(models, server={"master_key": MASTER}))


def assert_forwarded(headers: dict[str, str]) -> None:
    for name, value in SESSION.items():
        assert headers.get(name) == value, name
    for name in SECRETS:
        if name != "authorization":
            assert name not in headers, name
    assert "authorization" not in headers  # the model has no upstream key
    assert MASTER not in str(headers) and "secret" not in str(headers)


def test_pass_through_forwards_session_headers_and_no_credentials(
    keyed: RunningGateway, upstream: ScriptedUpstream
) -> None:
    headers = {**SESSION, **SECRETS}
    chat = {"model": "coder", "messages": MESSAGES}
    with httpx.Client(base_url=keyed.base_url, headers=headers, timeout=10) as client:
        client.post("/chat/completions", json=chat).raise_for_status()
        client.post("/chat/completions", json={**chat, "stream": True}).raise_for_status()
        client.post("/chat/completions", json={**chat, "n": 2}).raise_for_status()
        client.post("/completions", json={"model": "coder", "prompt": "x"}).raise_for_status()
        client.post("/embeddings", json={"model": "coder", "input": "x"}).raise_for_status()
    assert len(upstream.received) == 6
    for received in upstream.received:
        assert_forwarded(received.headers)
        assert received.headers["x-request-id"]  # ours, not replaced


def test_the_sdk_user_agent_reaches_the_upstream(
    keyed: RunningGateway, upstream: ScriptedUpstream
) -> None:
    sdk = openai.OpenAI(base_url=keyed.base_url, api_key=MASTER, max_retries=0, timeout=10)
    sdk.chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    sent = upstream.received[0].headers
    assert sent["user-agent"].startswith("OpenAI/Python")
    assert "authorization" not in sent
    assert not any(name.startswith("x-stainless") for name in sent)


def test_an_upstream_key_is_ours_not_the_clients(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    models = [{"name": "coder", "upstreams": [upstream.url], "api_key": "sk-upstream"}]
    gateway = gateway_factory(make_settings(models, server={"master_key": MASTER}))
    headers = {**SESSION, **SECRETS}
    reply = httpx.post(
        gateway.base_url + "/chat/completions",
        json={"model": "coder", "messages": MESSAGES},
        headers=headers,
    )
    reply.raise_for_status()
    sent = upstream.received[0].headers
    assert sent["authorization"] == "Bearer sk-upstream"
    assert sent["session_id"] == "ses_123"


@pytest.mark.nsjail
def test_best_of_k_candidates_carry_the_session_headers(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content=GOOD))
    gateway = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": "Write a function add(a, b)."}],
        "atlas": {"k": 2, "tests": ["assert add(1, 2) == 3"]},
    }
    reply = httpx.post(
        gateway.base_url + "/chat/completions",
        json=body,
        headers={**SESSION, **SECRETS},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-atlas-route"] == "best-of-k"
    candidates = [r for r in upstream.received if r.headers.get("x-atlas-purpose") == "candidate"]
    assert candidates
    for received in candidates:
        assert_forwarded(received.headers)
