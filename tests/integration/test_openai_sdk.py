"""The real openai SDK against the gateway, with a scripted upstream behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

MESSAGES = [{"role": "user", "content": "Write hello world in Python."}]


def client(gateway: RunningGateway, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=10)


def test_chat_json_through_sync_client(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    answer = client(gateway).chat.completions.with_raw_response.create(
        model="coder", messages=MESSAGES, extra_headers={"x-request-id": "req-123"}
    )
    completion = answer.parse()
    assert completion.choices[0].message.content == "Hello from the scripted upstream."
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert answer.headers["x-request-id"] == "req-123"
    assert answer.headers["x-atlas-route"] == "fast"
    sent = upstream.requests_to("/v1/chat/completions")[0]
    assert sent.body["messages"] == MESSAGES
    assert sent.headers["x-request-id"] == "req-123"


def test_unknown_fields_are_forwarded_unchanged(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    client(gateway).chat.completions.create(
        model="coder", messages=MESSAGES, extra_body={"cache_prompt": True, "top_k": 20}
    )
    sent = upstream.requests_to("/v1/chat/completions")[0].body
    assert sent["cache_prompt"] is True and sent["top_k"] == 20


async def test_chat_json_through_async_client(gateway: RunningGateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as sdk:
        results = await asyncio.gather(
            *(sdk.chat.completions.create(model="coder", messages=MESSAGES) for _ in range(8))
        )
    assert all(r.choices[0].message.content.startswith("Hello") for r in results)


def test_streaming_with_include_usage(gateway: RunningGateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="coder", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the scripted upstream."
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_streaming_without_include_usage_sends_no_usage_chunk(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    chunks = list(
        client(gateway).chat.completions.create(model="coder", messages=MESSAGES, stream=True)
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    # The gateway still asked the upstream for usage, for its own accounting.
    assert upstream.requests_to("/v1/chat/completions")[0].body["stream_options"] == {
        "include_usage": True
    }


def test_usage_is_counted_when_the_upstream_reports_none(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(report_usage=False, content="one two three four"))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    completion = client(gw).chat.completions.create(model="coder", messages=MESSAGES)
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens > 0
    chunks = list(
        client(gw).chat.completions.create(
            model="coder", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_n_fans_out_with_distinct_seeds(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=lambda body: f"seed {body['seed']}"))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    completion = client(gw).chat.completions.create(model="coder", messages=MESSAGES, n=3, seed=40)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert sorted(c.message.content for c in completion.choices) == [
        "seed 40",
        "seed 41",
        "seed 42",
    ]
    assert all("n" not in r.body for r in upstream.received)
    stream = client(gw).chat.completions.create(
        model="coder", messages=MESSAGES, n=2, seed=7, stream=True
    )
    texts: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert texts == {0: "seed 7", 1: "seed 8"}


def test_models_list_and_retrieve(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    assert [m.id for m in sdk.models.list()] == ["coder"]
    assert sdk.models.retrieve("coder").id == "coder"
    with pytest.raises(openai.NotFoundError) as error:
        sdk.models.retrieve("nope")
    assert error.value.code == "model_not_found"


def test_unknown_model_is_404(gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError) as error:
        client(gateway).chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert error.value.code == "model_not_found"
    assert error.value.param == "model"


def test_master_key(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}], server={"master_key": "sk-master"}
        )
    )
    with pytest.raises(openai.AuthenticationError) as error:
        client(gw, "sk-wrong").chat.completions.create(model="coder", messages=MESSAGES)
    assert error.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client(gw, "sk-wrong").models.list()
    ok = client(gw, "sk-master").chat.completions.create(model="coder", messages=MESSAGES)
    assert ok.choices[0].message.content


def test_bad_request_types(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client(gateway).chat.completions.create(
            model="coder", messages=[{"role": "wizard", "content": "hi"}]
        )  # type: ignore[list-item]
    assert error.value.param == "messages[0].role"


def test_rate_limited_when_the_upstream_is_full(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(delay_s=1.5))
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [{"url": upstream.url, "max_in_flight": 1}]}],
            upstream={"max_queue": 0},
        )
    )

    async def scenario() -> None:
        async with openai.AsyncOpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as sdk:
            first = asyncio.create_task(
                sdk.chat.completions.create(model="coder", messages=MESSAGES)
            )
            await asyncio.sleep(0.4)
            with pytest.raises(openai.RateLimitError) as error:
                await sdk.chat.completions.create(model="coder", messages=MESSAGES)
            assert error.value.response.headers["retry-after"] == "1"
            assert (await first).choices[0].message.content

    asyncio.run(scenario())


def test_upstream_down_is_503(gateway_factory: Callable[..., RunningGateway]) -> None:
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": ["http://127.0.0.1:9"]}]))
    with pytest.raises(openai.InternalServerError) as error:
        client(gw).chat.completions.create(model="coder", messages=MESSAGES)
    assert error.value.status_code == 503
    assert error.value.code == "upstream_unavailable"


def test_embeddings(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    result = client(gateway).embeddings.create(model="coder", input=["a", "b"])
    assert [d.index for d in result.data] == [0, 1]
    assert upstream.requests_to("/v1/embeddings")[0].body["input"] == ["a", "b"]


def test_completion_with_suffix_goes_to_infill(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    result = client(gateway).completions.create(
        model="coder", prompt="def add(a, b):\n", suffix="\nprint(add(1, 2))", max_tokens=16
    )
    assert result.choices[0].text == "Hello from the scripted upstream."
    assert result.usage is not None and result.usage.completion_tokens == 4
    sent = upstream.requests_to("/infill")[0].body
    assert sent["input_prefix"] == "def add(a, b):\n"
    assert sent["input_suffix"] == "\nprint(add(1, 2))"
    assert sent["n_predict"] == 16
    streamed = client(gateway).completions.create(
        model="coder", prompt="x = ", suffix="\n", stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == (
        "Hello from the scripted upstream."
    )


def test_plain_completion(gateway: RunningGateway, upstream: ScriptedUpstream) -> None:
    result = client(gateway).completions.create(model="coder", prompt="def f():")
    assert result.choices[0].text.startswith("Hello")
    assert upstream.requests_to("/v1/completions")


def tokens_counted(gateway: RunningGateway, kind: str) -> float:
    metrics = httpx.get(gateway.url + "/metrics").text
    line = f'atlas_tokens_total{{kind="{kind}",model="coder"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def test_completions_feed_the_token_metrics_like_chat(gateway: RunningGateway) -> None:
    # One after-answer hook for every route and strategy: JSON and streams alike.
    sdk = client(gateway)
    sdk.completions.create(model="coder", prompt="def f():")
    after_json = tokens_counted(gateway, "completion")
    assert after_json > 0
    list(sdk.completions.create(model="coder", prompt="def f():", stream=True))
    after_stream = tokens_counted(gateway, "completion")
    assert after_stream > after_json
    sdk.completions.create(model="coder", prompt="x = ", suffix="\n")  # /infill, translated
    assert tokens_counted(gateway, "completion") == after_stream + 4
    assert tokens_counted(gateway, "prompt") > 0
