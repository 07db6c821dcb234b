"""Failure modes: each gets the right error, and the gateway keeps serving afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for

MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = {"model": "coder", "messages": MESSAGES}
MASTER_KEY = "sk-test-master-key-of-at-least-32-chars"


def still_serving(gateway: RunningGateway) -> None:
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert answer.status_code == 200, answer.text


def assert_openai_error(answer: httpx.Response, status: int, code: str | None) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"]
    return error  # type: ignore[no-any-return]


def test_malformed_json_is_400(gateway: RunningGateway) -> None:
    answer = httpx.post(
        gateway.url + "/v1/chat/completions",
        content=b'{"model": "coder",',
        headers={"content-type": "application/json"},
    )
    assert_openai_error(answer, 400, "invalid_json")
    answer = httpx.post(gateway.url + "/v1/chat/completions", content=b"")
    assert_openai_error(answer, 400, "invalid_json")
    still_serving(gateway)


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": 3, "messages": MESSAGES}, "model"),
        ({"model": "coder"}, None),
        ({"model": "coder", "messages": "hello"}, "messages"),
        ({"model": "coder", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "coder", "messages": MESSAGES, "n": 100}, "n"),
    ],
)
def test_wrong_types_are_400(
    gateway: RunningGateway, body: dict[str, object], param: str | None
) -> None:
    answer = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    error = assert_openai_error(answer, 400, "invalid_value")
    assert error["param"] == param


def test_oversized_body_is_413(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}], server={"max_body_bytes": 4096}
        )
    )
    big = {"model": "coder", "messages": [{"role": "user", "content": "x" * 10_000}]}
    answer = httpx.post(gw.url + "/v1/chat/completions", json=big)
    assert_openai_error(answer, 413, "request_too_large")
    assert not upstream.received
    still_serving(gw)


def test_unknown_route_and_method(gateway: RunningGateway) -> None:
    assert_openai_error(httpx.get(gateway.url + "/v1/nothing"), 404, "not_found")
    assert_openai_error(httpx.get(gateway.url + "/v1/chat/completions"), 405, "method_not_allowed")


def test_upstream_500_fails_over_to_another_upstream(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    broken = upstream_factory(Script(status=500))
    good = upstream_factory(Script(content="from the good one"))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [broken.url, good.url]}]))
    for _ in range(4):
        answer = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"] == "from the good one"
    assert broken.received, "the broken upstream was never tried"
    assert len(good.received) == 4


def test_upstream_500_with_no_other_upstream_is_502(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    broken = upstream_factory(Script(status=500))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [broken.url]}]))
    answer = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    error = assert_openai_error(answer, 502, "upstream_error")
    assert broken.url in str(error["message"])


def test_stalled_upstream_times_out_with_504(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    stalled = upstream_factory(Script(delay_s=5))
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [stalled.url]}],
            upstream={"read_timeout_s": 0.5, "stream_first_byte_timeout_s": 0.5},
        )
    )
    answer = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert_openai_error(answer, 504, "upstream_timeout")
    answer = httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10)
    assert_openai_error(answer, 504, "upstream_timeout")
    stalled.script = Script()
    still_serving(gw)


def test_upstream_4xx_passes_through_in_openai_shape(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    llama_error = {
        "error": {
            "code": 400,
            "message": "the request exceeds the context size",
            "type": "exceed_context_size_error",
            "n_ctx": 4096,
        }
    }
    refusing = upstream_factory(Script(status=400, error_body=llama_error))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [refusing.url]}]))
    answer = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    error = assert_openai_error(answer, 400, "context_length_exceeded")
    assert error["type"] == "invalid_request_error"
    assert len(refusing.received) == 1, "a 4xx must not be retried"
    with pytest.raises(openai.BadRequestError) as raised:
        openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0).chat.completions.create(
            model="coder", messages=MESSAGES
        )  # type: ignore[arg-type]
    assert raised.value.code == "context_length_exceeded"


def test_client_disconnect_mid_stream_cancels_the_upstream(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    slow = upstream_factory(Script(content=" ".join(["word"] * 50), chunk_delay_s=0.1))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [slow.url]}]))
    with httpx.stream(
        "POST", gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10
    ) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(3)]
    assert any(line.startswith("data: ") for line in received)
    assert wait_for(lambda: slow.disconnects == 1, timeout=3), "upstream never saw the client leave"
    assert slow.completed == 0
    assert wait_for(lambda: gw.services.models["coder"].generation.upstreams[0].in_flight == 0)
    still_serving_slow = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert still_serving_slow.status_code == 200


def test_client_disconnect_while_waiting_cancels_the_upstream(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    slow = upstream_factory(Script(delay_s=3))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [slow.url]}]))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/chat/completions", json=CHAT, timeout=0.5)
    assert wait_for(lambda: slow.disconnects == 1, timeout=2), "upstream never saw the client leave"
    assert wait_for(lambda: gw.services.models["coder"].generation.upstreams[0].in_flight == 0)


def test_stream_error_after_headers_is_an_error_event_then_done(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    dropping = upstream_factory(Script(content="a b c d e f", drop_after_chunks=3))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [dropping.url]}]))
    with httpx.stream(
        "POST", gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10
    ) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert error["code"] == "upstream_error"
    with pytest.raises(openai.APIError):
        list(
            openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0).chat.completions.create(
                model="coder", messages=MESSAGES, stream=True
            )
        )  # type: ignore[arg-type]


def test_keepalive_comments_while_the_upstream_is_quiet(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    quiet = upstream_factory(Script(content="slow answer", chunk_delay_s=0.6))
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [quiet.url]}], server={"keepalive_interval_s": 0.2}
        )
    )
    with httpx.stream(
        "POST", gw.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10
    ) as response:
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert ": keep-alive\n\n" in raw
    assert raw.endswith("data: [DONE]\n\n")
    assert raw.count("data: ") > 3


def test_ready_and_metrics(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    key = {"authorization": f"Bearer {MASTER_KEY}"}
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url]}], server={"master_key": MASTER_KEY}
        )
    )
    assert wait_for(lambda: httpx.get(gw.url + "/ready", headers=key).status_code == 200)
    httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=key)
    metrics = httpx.get(gw.url + "/metrics", headers=key).text
    assert (
        'atlas_requests_total{endpoint="/v1/chat/completions",model="coder",status="200"} 1.0'
        in metrics
    )
    assert "atlas_upstream_healthy" in metrics
    name = upstream.url.removeprefix("http://")  # upstreams are labelled host:port
    assert (
        f'atlas_upstream_requests_total{{model="coder",outcome="ok",role="generation",'
        f'upstream="{name}"}} 1.0' in metrics
    )
    assert 'atlas_tokens_total{kind="completion",model="coder"}' in metrics
    upstream.script = Script(health_status=503)
    assert wait_for(lambda: httpx.get(gw.url + "/ready", headers=key).status_code == 503, timeout=8)
    assert httpx.get(gw.url + "/health").status_code == 200
