"""/v1/messages as real clients use it: a recorded Claude Code request replayed, and
best-of-k behind the Messages API (real nsjail)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

# Built from /work/shared/CLIENTS.md's capture notes: three system blocks (two with
# cache_control), 24 tools with no `type` and 2020-12 schemas, a role:system message
# inside messages, thinking and redacted_thinking, a tool_result with is_error,
# metadata, thinking, context_management, output_config, max_tokens 32000; about 90 KB.
CLAUDE_CODE = Path(__file__).parent / "data" / "claude_code_messages.json"
RECORDED_CLAUDE_CODE = Path(__file__).parents[1] / "data" / "clients" / "claude_code_messages.json"
CLAUDE_CODE_HEADERS = {
    "x-api-key": "sk-master-cc",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,"
    "context-management-2025-06-27,prompt-caching-scope-2026-01-05,effort-2025-11-24",
    "x-app": "cli",
    "X-Claude-Code-Session-Id": "5e0b8a0c-7e1d-4b8e-9d55-2f1c0d6b3a11",
    "user-agent": "claude-cli/2.1.3 (external, cli)",
}
GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
DOCTEST_PROMPT = (
    'Complete this function:\n```python\ndef add(a, b):\n    """Add two numbers.\n'
    '    >>> add(2, 3)\n    5\n    """\n```'
)


def frames_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in (f for f in text.split("\n\n") if f):
        head, data = frame.split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


@pytest.mark.parametrize("stream", [True, False])
def test_a_claude_code_request_replays_through_the_gateway(
    gateway_factory: Callable[..., RunningGateway],
    upstream: ScriptedUpstream,
    stream: bool,
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}],
            server={"master_key": "sk-master-cc"},
        )
    )
    recorded = json.loads(CLAUDE_CODE.read_text())
    # On a failed stream Claude Code resends the same body without `stream`.
    body = recorded if stream else {k: v for k, v in recorded.items() if k != "stream"}
    answer = httpx.post(
        gw.url + "/v1/messages?beta=true", json=body, headers=CLAUDE_CODE_HEADERS, timeout=10
    )
    assert answer.status_code == 200, answer.text
    if stream:
        events = frames_of(answer.text)
        assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
        text = "".join(e["delta"]["text"] for k, e in events if k == "content_block_delta")
        assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    else:
        text = answer.json()["content"][0]["text"]
    assert text == "Hello from the scripted upstream."

    sent = upstream.requests_to("/v1/chat/completions")[0].body
    assert sent["max_tokens"] == 32000 and sent["stream"] is stream
    ignored = {"metadata", "thinking", "context_management", "output_config", "system"}
    assert not ignored & set(sent)
    messages = sent["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "system",
        "assistant",
        "tool",
        "user",
    ]
    system = messages[0]["content"]
    assert system.startswith("x-anthropic-billing-header") and "You are Claude Code" in system
    assert messages[2]["content"].startswith("Plan mode is off.")
    assert messages[3]["content"] == "I'll run the tests."  # thinking blocks dropped
    call = messages[3]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {
        "command": "pytest -q",
        "description": "Run the tests",
    }
    assert messages[4]["tool_call_id"] == call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert messages[4]["content"].startswith("The tool reported an error:\nFAILED")
    assert messages[5]["content"].startswith("<system-reminder>")
    tools = sent["tools"]
    assert len(tools) == 24 and all(t["type"] == "function" for t in tools)
    assert [t["function"]["name"] for t in tools] == [t["name"] for t in recorded["tools"]]
    assert tools[0]["function"]["parameters"] == recorded["tools"][0]["input_schema"]
    assert "cache_control" not in json.dumps(sent)
    headers = upstream.requests_to("/v1/chat/completions")[0].headers
    assert "anthropic-beta" not in headers and "x-api-key" not in headers


def test_claude_codes_head_check_needs_no_key(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}],
            server={"master_key": "sk-master-cc"},
        )
    )
    head = httpx.head(gw.url + "/")
    assert head.status_code == 200 and head.content == b""
    assert httpx.get(gw.url + "/").json()["status"] == "ok"  # the same, with its body


def test_count_tokens_for_a_claude_code_request(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    recorded = json.loads(CLAUDE_CODE.read_text())
    body = {k: recorded[k] for k in ("model", "system", "messages", "tools")}
    answer = httpx.post(gateway.url + "/v1/messages/count_tokens?beta=true", json=body)
    assert answer.status_code == 200
    count = answer.json()["input_tokens"]
    # cl100k_base reads English at about 4 characters a token.
    assert len(CLAUDE_CODE.read_text()) / 12 < count < len(CLAUDE_CODE.read_text()) / 2
    assert not upstream.received


def sampled_is_good(body: dict[str, Any]) -> str:
    # Candidate 0 is the client's own request, greedy; the others sample. A request
    # passed through (no temperature) gets the bad answer too.
    return GOOD if body.get("temperature") else BAD


@pytest.mark.nsjail
async def test_best_of_k_answers_as_an_anthropic_message(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=sampled_is_good))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    ask: Any = [{"role": "user", "content": DOCTEST_PROMPT}]
    async with anthropic.AsyncAnthropic(
        base_url=gw.url, api_key="x", max_retries=0, timeout=30
    ) as client:
        raw = await client.messages.with_raw_response.create(
            model="coder", max_tokens=200, messages=ask, extra_headers={"x-atlas-k": "4"}
        )
        message = await raw.parse()
        async with client.messages.stream(
            model="coder", max_tokens=200, messages=ask, extra_headers={"x-atlas-k": "4"}
        ) as stream:
            streamed = await stream.get_final_message()
            assert stream.response.headers["x-atlas-route"] == "best-of-k"
    assert raw.headers["x-atlas-route"] == "best-of-k" and raw.headers["x-atlas-k"] == "4"
    # Candidate 0 (greedy) fails the prompt's doctest, the sampled one of the first wave
    # passes: k is a ceiling, the other two are never asked for.
    assert raw.headers["x-atlas-candidates"] == "2" and raw.headers["x-atlas-verified"] == "1"
    assert raw.headers["x-atlas-selection"] == "tests"
    assert raw.headers["x-atlas-tests"].startswith("prompt:")  # the doctest, trusted
    for answer in (message, streamed):
        assert answer.type == "message" and answer.stop_reason == "end_turn"
        assert [b.type for b in answer.content] == ["text"]
        assert answer.content[0].text == GOOD  # type: ignore[union-attr]
        assert answer.usage.output_tokens == len(GOOD.split())  # the winner's own tokens
    candidates = [
        r
        for r in upstream.requests_to("/v1/chat/completions")
        if r.headers.get("x-atlas-purpose") == "candidate"
    ]
    assert len(candidates) >= 2
    assert all(r.body["messages"] == ask and r.body["max_tokens"] == 200 for r in candidates)


def test_a_real_claude_code_request_streams_what_claude_code_reads(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    # Captured from `claude -p "Say hello"` (Claude Code 2.1.197) pointed at ATLAS.
    recorded = json.loads(RECORDED_CLAUDE_CODE.read_text())
    headers = {**recorded["headers"], "x-api-key": "x"}
    with httpx.stream(
        "POST", gateway.url + recorded["path"], json=recorded["body"], headers=headers, timeout=30
    ) as answer:
        assert answer.status_code == 200
        text = answer.read().decode()
    names = [name for name, _ in frames_of(text)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "content_block_delta" in names and "error" not in names
    sent = upstream.requests_to("/v1/chat/completions")[-1]
    assert len(sent.body["tools"]) == len(recorded["body"]["tools"])
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user", "system"]
    assert sent.headers["user-agent"] == recorded["headers"]["user-agent"]
    assert "x-claude-code-session-id" in sent.headers
    for private in ("x-api-key", "anthropic-beta", "authorization"):
        assert private not in sent.headers
