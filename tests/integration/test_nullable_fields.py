"""`null` is the default wherever OpenAI's reference makes a field nullable, and integer
fields take integral floats, on chat, completions and embeddings (real HTTP, the real
openai SDK where a client builds the body, a scripted upstream)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import ScriptedUpstream
from tests.integration.conftest import RunningGateway

MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT_NULLS: dict[str, Any] = {
    "n": None,
    "stream": None,
    "stream_options": None,
    "seed": None,
    "tools": None,
    "temperature": None,
    "top_p": None,
    "max_tokens": None,
    "max_completion_tokens": None,
    "frequency_penalty": None,
    "presence_penalty": None,
    "logit_bias": None,
    "logprobs": None,
    "top_logprobs": None,
    "stop": None,
    "user": None,
    "atlas": None,
}


def post(gateway: RunningGateway, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.base_url + path, json=body, timeout=10)


def test_every_nullable_chat_field_may_be_null(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    reply = post(
        gateway, "/chat/completions", {"model": "coder", "messages": MESSAGES, **CHAT_NULLS}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].startswith("Hello")
    assert reply.headers["x-atlas-route"] == "fast"
    sent = upstream.requests_to("/v1/chat/completions")[0].body
    assert "atlas" not in sent  # the extension never goes upstream, even as null
    assert sent["n"] is None and sent["max_tokens"] is None  # as the client sent them


def test_null_stream_is_json_and_null_include_usage_is_no_usage_chunk(
    gateway: RunningGateway,
) -> None:
    body = {"model": "coder", "messages": MESSAGES, "stream": None}
    assert post(gateway, "/chat/completions", body).json()["object"] == "chat.completion"
    body = {
        "model": "coder",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": None},
    }
    with httpx.stream("POST", gateway.base_url + "/chat/completions", json=body) as reply:
        assert reply.status_code == 200
        lines = [line for line in reply.iter_lines() if line.startswith("data: {")]
    assert lines and all('"usage":{' not in line for line in lines)


def test_the_sdk_sends_explicit_nulls(gateway: RunningGateway) -> None:
    sdk = openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=10)
    completion = sdk.chat.completions.create(
        model="coder", messages=MESSAGES, extra_body={"n": None, "seed": None, "tools": None}
    )
    assert completion.choices[0].message.content


def test_atlas_fields_may_be_null(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    atlas = {"k": None, "debug": None, "tests": None, "repair": None, "hints": None, "cache": None}
    reply = post(
        gateway, "/chat/completions", {"model": "coder", "messages": MESSAGES, "atlas": atlas}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-atlas-route"] == "fast"
    assert "atlas" not in upstream.received[0].body


def test_integral_floats_are_integers(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    body = {"model": "coder", "messages": MESSAGES, "max_tokens": 1024.0, "n": 2.0, "seed": 3.0}
    reply = post(gateway, "/chat/completions", body)
    assert reply.status_code == 200, reply.text
    assert [c["index"] for c in reply.json()["choices"]] == [0, 1]
    assert sorted(r.body["seed"] for r in upstream.received) == [3, 4]  # n=2: seeds 3 and 4
    assert all(r.body["max_tokens"] == 1024 for r in upstream.received)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("max_tokens", 1.5, "1.5"),
        ("n", 2.5, "2.5"),
        ("seed", True, "bool"),
        ("n", "2", "str"),
    ],
)
def test_a_non_integral_number_is_a_400_naming_the_field(
    gateway: RunningGateway, field: str, value: Any, shown: str
) -> None:
    reply = post(
        gateway, "/chat/completions", {"model": "coder", "messages": MESSAGES, field: value}
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert f"Expected an integer, got {shown}" in error["message"]


def test_atlas_k_as_a_float(gateway: RunningGateway) -> None:
    body = {"model": "coder", "messages": MESSAGES, "atlas": {"k": 1.0, "repair": 0.5}}
    error = post(gateway, "/chat/completions", body).json()["error"]
    assert error["param"] == "atlas.repair"


def test_completion_nulls_and_floats(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    body = {
        "model": "coder",
        "prompt": "def add(a, b):",
        "suffix": None,
        "stream": None,
        "stream_options": None,
        "n": None,
        "seed": None,
        "temperature": None,
        "top_p": None,
        "max_tokens": 16.0,
        "stop": None,
        "echo": None,
        "logprobs": None,
        "best_of": None,
    }
    reply = post(gateway, "/completions", body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["object"] == "text_completion"
    assert upstream.requests_to("/v1/completions")  # suffix null: no /infill


def test_a_null_prompt_is_the_empty_document(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    reply = post(gateway, "/completions", {"model": "coder", "prompt": None})
    assert reply.status_code == 200, reply.text
    assert upstream.requests_to("/v1/completions")[0].body["prompt"] == ""


def test_embedding_nulls(gateway: RunningGateway) -> None:
    body = {"model": "coder", "input": "hello", "encoding_format": None, "user": None}
    reply = post(gateway, "/embeddings", body)
    assert reply.status_code == 200, reply.text


def test_required_fields_stay_required(gateway: RunningGateway) -> None:
    for path, body in [
        ("/chat/completions", {"model": "coder", "messages": None}),
        ("/chat/completions", {"model": None, "messages": MESSAGES}),
        ("/embeddings", {"model": "coder", "input": None}),
    ]:
        reply = post(gateway, path, body)
        assert reply.status_code == 400, (path, body)
        assert reply.json()["error"]["code"] == "invalid_value"
