"""Real tokens from the real model, through the gateway and the openai SDK."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from config.engines import EngineSettings
from engines.supervisor import ManagedEngine
from tests.e2e.conftest import MODEL, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PROMPT = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]


def sdk(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key="unused", max_retries=0, timeout=120)


def test_chat_json(stack: Stack) -> None:
    completion = sdk(stack).chat.completions.create(
        model=MODEL, messages=PROMPT, max_tokens=32, temperature=0
    )
    text = completion.choices[0].message.content or ""
    assert "def" in text or "add" in text, text
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_chat_stream(stack: Stack) -> None:
    chunks = list(
        sdk(stack).chat.completions.create(
            model=MODEL, messages=PROMPT, max_tokens=24, temperature=0, stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.strip()) > 0
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_embeddings_from_the_sidecar(stack: Stack) -> None:
    result = sdk(stack).embeddings.create(model=MODEL, input=["def add(a, b): return a + b"])
    vector = result.data[0].embedding
    assert len(vector) == 896  # Qwen2.5-0.5B's hidden size
    assert any(abs(v) > 0 for v in vector)


def test_self_drafting_reports_acceptance(stack: Stack) -> None:
    url = stack.url("gen")
    body = json.dumps({"messages": PROMPT, "max_tokens": 32, "temperature": 0}).encode()
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        raw = reply.read()
    stack.engines.record_reply(url, raw)
    timings = json.loads(raw)["timings"]
    assert timings["draft_n"] > 0 and timings["draft_n_accepted"] > 0
    telemetry = stack.engines.engines["gen"].telemetry
    assert telemetry.acceptance_rate is not None and telemetry.acceptance_rate > 0.5
    registry = CollectorRegistry()
    registry.register(stack.engines.collector())
    text = generate_latest(registry).decode()
    assert 'atlas_engine_state{engine="gen",state="ready"} 1.0' in text
    assert 'atlas_engine_draft_acceptance_ratio{engine="gen"}' in text


def test_generation_engine_has_no_embeddings(stack: Stack) -> None:
    request = urllib.request.Request(
        stack.url("gen") + "/v1/embeddings",
        data=json.dumps({"input": "x"}).encode(),
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=30)


def test_spec_profile_target_accepts_the_small_draft(stack: Stack) -> None:
    installed = stack.installed
    if installed.draft_model is None:
        pytest.skip("the `spec` profile is not installed (atlas engines install --profile spec)")
    settings = EngineSettings(
        name="spec",
        binary=str(installed.binary),
        model=str(installed.model),
        draft_model=str(installed.draft_model),
        ctx_size=2048,
        parallel=1,
    )
    engine = ManagedEngine(settings, binary=str(installed.binary))
    url = stack.loop.run(engine.ensure_ready())
    try:
        body = json.dumps({"messages": PROMPT, "max_tokens": 32, "temperature": 0}).encode()
        request = urllib.request.Request(
            url + "/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            engine.telemetry.record_body(reply.read())
    finally:
        stack.loop.run(engine.stop())
    assert engine.telemetry.accepted > 0, engine.telemetry.snapshot()
