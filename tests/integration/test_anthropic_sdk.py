"""The real anthropic SDK against /v1/messages, with a scripted upstream behind it:
JSON, streams, a tool round-trip, errors as the SDK's own exceptions, count_tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

MASTER_KEY = "sk-master-messages"
ASK: list[Any] = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_CALL = {
    "id": "call_7",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def sdk(gateway: RunningGateway, key: str = "unused") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=10)


def chat_sent(upstream: ScriptedUpstream, index: int = -1) -> dict[str, Any]:
    return upstream.requests_to("/v1/chat/completions")[index].body


def gateway_for(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, **sections: Any
) -> RunningGateway:
    models = [{"name": "coder", "upstreams": [upstream.url]}]
    return gateway_factory(make_settings(models, **sections))


async def test_json_message(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    async with sdk(gateway) as client:
        message = await client.messages.create(
            model="coder",
            max_tokens=100,
            system="Be brief.",
            messages=ASK,
            stop_sequences=["END"],
            metadata={"user_id": "u-1"},
            # SDK 2.15 no longer names the sampling fields; the API still takes them.
            extra_body={"temperature": 0.1, "top_k": 20},
        )
    assert message.id.startswith("msg_") and message.model == "coder"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from the scripted upstream."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 5)
    assert chat_sent(upstream) == {
        "model": "coder",
        "messages": [{"role": "system", "content": "Be brief."}, *ASK],
        "max_tokens": 100,
        "stream": False,
        "temperature": 0.1,
        "top_k": 20,
        "stop": ["END"],
    }


async def test_stream_and_final_message(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    async with sdk(gateway) as client:
        async with client.messages.stream(model="coder", max_tokens=50, messages=ASK) as stream:
            texts = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
    assert len(texts) == 5 and "".join(texts) == "Hello from the scripted upstream."
    assert final.content[0].text == "Hello from the scripted upstream."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 5)
    assert chat_sent(upstream)["stream_options"] == {"include_usage": True}


def test_stream_events_in_order_on_the_wire(gateway: RunningGateway) -> None:
    body = {"model": "coder", "max_tokens": 50, "messages": ASK, "stream": True}
    answer = httpx.post(gateway.url + "/v1/messages?beta=true", json=body, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in answer.text.split("\n\n") if f]
    kinds = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) <= {"content_block_delta", "ping"}
    assert "[DONE]" not in answer.text
    for frame in frames:
        head, data = frame.split("\n")
        assert json.loads(data.removeprefix("data: "))["type"] == head.removeprefix("event: ")


async def test_tool_round_trip(
    upstream_factory: Callable[..., ScriptedUpstream],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    upstream = upstream_factory(Script(tool_calls=[WEATHER_CALL]))
    gw = gateway_for(gateway_factory, upstream)
    question: Any = {"role": "user", "content": "Weather in Paris?"}
    async with sdk(gw) as client:
        first = await client.messages.create(
            model="coder",
            max_tokens=100,
            messages=[question],
            tools=[WEATHER_TOOL],
            tool_choice={"type": "any"},
        )
        assert first.stop_reason == "tool_use"
        tool_use = first.content[0]
        assert tool_use.type == "tool_use"
        assert (tool_use.id, tool_use.name, tool_use.input) == (
            "call_7",
            "get_weather",
            {"city": "Paris"},
        )
        assert chat_sent(upstream)["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER_TOOL["input_schema"],
                    "description": "The weather in a city.",
                },
            }
        ]
        assert chat_sent(upstream)["tool_choice"] == "required"
        upstream.script = Script(content="It rains in Paris.")
        second = await client.messages.create(
            model="coder",
            max_tokens=100,
            tools=[WEATHER_TOOL],
            messages=[
                question,
                {"role": "assistant", "content": first.content},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "call_7",
                            "content": [{"type": "text", "text": "rain, 12C"}],
                        }
                    ],
                },
            ],
        )
    assert second.content[0].text == "It rains in Paris."  # type: ignore[union-attr]
    assert chat_sent(upstream)["messages"][1:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "rain, 12C", "tool_call_id": "call_7"},
    ]


async def test_streamed_tool_use(
    upstream_factory: Callable[..., ScriptedUpstream],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    upstream = upstream_factory(Script(tool_calls=[WEATHER_CALL]))
    gw = gateway_for(gateway_factory, upstream)
    async with sdk(gw) as client:
        async with client.messages.stream(
            model="coder", max_tokens=100, messages=ASK, tools=[WEATHER_TOOL]
        ) as stream:
            final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use" and block.input == {"city": "Paris"}


async def test_the_key_is_read_from_x_api_key(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_for(gateway_factory, upstream, server={"master_key": MASTER_KEY})
    async with sdk(gw, key=MASTER_KEY) as client:  # the SDK sends it as x-api-key
        message = await client.messages.create(model="coder", max_tokens=10, messages=ASK)
        assert message.content[0].text.startswith("Hello")  # type: ignore[union-attr]
    async with sdk(gw, key="sk-wrong") as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model="coder", max_tokens=10, messages=ASK)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    async with httpx.AsyncClient() as http:
        count = await http.post(
            gw.url + "/v1/messages/count_tokens", json={"model": "coder", "messages": ASK}
        )
    assert count.status_code == 401 and count.json()["error"]["type"] == "authentication_error"


async def test_unknown_model_and_bad_requests(gateway: RunningGateway) -> None:
    async with sdk(gateway) as client:
        with pytest.raises(anthropic.NotFoundError) as missing:
            await client.messages.create(model="claude-opus", max_tokens=10, messages=ASK)
        with pytest.raises(anthropic.BadRequestError) as zero:
            await client.messages.create(model="coder", max_tokens=0, messages=ASK)
        with pytest.raises(anthropic.BadRequestError) as block:
            bad: Any = [{"role": "user", "content": [{"type": "bogus", "x": 1}]}]
            await client.messages.create(model="coder", max_tokens=10, messages=bad)
    assert missing.value.body == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "The model 'claude-opus' does not exist. Known models: coder",
        },
    }
    assert "max_tokens" in zero.value.message
    assert block.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "bogus" in block.value.message
    # No max_tokens at all: the schema requires it.
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            gateway.url + "/v1/messages", json={"model": "coder", "messages": ASK}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("script", "error", "status", "kind"),
    [
        (Script(status=429), anthropic.RateLimitError, 429, "rate_limit_error"),
        (Script(status=500), anthropic.InternalServerError, 502, "api_error"),
        (
            Script(tool_calls=[{"id": "c", "function": {"name": "f", "arguments": "{bad"}}]),
            anthropic.InternalServerError,
            502,
            "api_error",
        ),
    ],
)
async def test_upstream_failures_are_the_sdks_exceptions(
    upstream_factory: Callable[..., ScriptedUpstream],
    gateway_factory: Callable[..., RunningGateway],
    script: Script,
    error: type[anthropic.APIStatusError],
    status: int,
    kind: str,
) -> None:
    gw = gateway_for(gateway_factory, upstream_factory(script))
    async with sdk(gw) as client:
        with pytest.raises(error) as caught:
            await client.messages.create(model="coder", max_tokens=10, messages=ASK)
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"  # type: ignore[index]
    assert caught.value.body["error"]["type"] == kind  # type: ignore[index]


async def test_no_upstream_is_503_overloaded(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gw = gateway_factory(make_settings([]))
    async with sdk(gw) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(model="coder", max_tokens=10, messages=ASK)
    assert caught.value.status_code == 503
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert "ATLAS_UPSTREAM_URL" in caught.value.body["error"]["message"]  # type: ignore[index]


async def test_an_upstream_that_fails_mid_stream_is_an_error_event_the_sdk_raises(
    upstream_factory: Callable[..., ScriptedUpstream],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gw = gateway_for(gateway_factory, upstream_factory(Script(drop_after_chunks=3)))
    texts: list[str] = []
    async with asyncio.timeout(15), sdk(gw) as client:  # never a hang
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(model="coder", max_tokens=50, messages=ASK) as s:
                async for text in s.text_stream:
                    texts.append(text)
    assert texts == ["Hello ", "from "]
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_a_body_too_large_is_413_in_anthropic_shape(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_for(gateway_factory, upstream, server={"max_body_bytes": 4096})
    big = {"model": "coder", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 9000}]}
    answer = httpx.post(gw.url + "/v1/messages", json=big)
    assert answer.status_code == 413
    assert answer.json() == {
        "type": "error",
        "error": {
            "type": "request_too_large",
            "message": "request body is larger than the configured limit (server.max_body_bytes)",
        },
    }
    assert not upstream.received
    # The OpenAI routes keep their own shape.
    chat = httpx.post(gw.url + "/v1/chat/completions", json={"model": "x", "messages": []})
    assert set(chat.json()) == {"error"}


async def test_count_tokens(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    async with sdk(gateway) as client:
        plain = await client.messages.count_tokens(model="coder", messages=ASK)
        more = await client.messages.count_tokens(
            model="coder", messages=ASK, system="You are a careful coder.", tools=[WEATHER_TOOL]
        )
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.count_tokens(model="nope", messages=ASK)
    assert 2 <= plain.input_tokens <= 6  # "Say hello." in cl100k_base
    assert more.input_tokens > plain.input_tokens + 20
    assert not upstream.received  # counted by the gateway, no generation slot held


def test_integral_floats_are_integers_and_fractions_a_400_in_anthropic_shape(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    body = {
        "model": "coder",
        "max_tokens": 64.0,
        "top_k": 20.0,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert httpx.post(gateway.url + "/v1/messages", json=body, timeout=10).status_code == 200
    sent = upstream.requests_to("/v1/chat/completions")[-1].body
    assert (sent["max_tokens"], sent["top_k"]) == (64, 20)
    body["max_tokens"] = 64.5
    answer = httpx.post(gateway.url + "/v1/messages", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer.json()["error"]["message"]
