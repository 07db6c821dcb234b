"""Live bench requests: settings, the body an IDE would send, answers and failures."""

from __future__ import annotations

import json

import httpx
import pytest

from bench.live_client import (
    MODEL_ALONE,
    ORACLE_TEMPERATURE,
    Setting,
    ask,
    chat_url,
    oracle_setting,
    parse_answer,
    request_body,
    settings_for,
)
from bench.live_data import humaneval_problems, user_message
from config.strategy import BestOfKSettings
from tests.conftest import free_port


def test_settings_start_with_the_model_alone_and_never_repeat_it() -> None:
    assert settings_for((1, 5), (0,)) == [MODEL_ALONE, Setting(k=5, repair=0)]
    assert [s.key for s in settings_for((5, 1), (1, 0))] == ["k1-r0", "k1-r1", "k5-r0", "k5-r1"]
    assert settings_for((3,), (1,)) == [MODEL_ALONE, Setting(k=3, repair=1)]
    assert MODEL_ALONE.label == "model alone" and Setting(k=5, repair=1).label == "k=5, repair=1"


def test_the_oracle_is_plain_sampling_with_its_own_key_and_label() -> None:
    oracle = oracle_setting(5)
    assert (oracle.k, oracle.repair, oracle.samples, oracle.temperature) == (1, 0, 5, 0.6)
    assert oracle.oracle and not oracle.alone and MODEL_ALONE.alone and not MODEL_ALONE.oracle
    assert oracle.key == "oracle5-t0.6" and oracle_setting(3, 0.8).key == "oracle3-t0.8"
    assert oracle.label == "plain sampling, oracle pass@5"
    assert settings_for((1, 5), (0,), oracle) == [MODEL_ALONE, Setting(k=5), oracle]
    assert settings_for((1,), (0,)) == [MODEL_ALONE]


def test_the_oracle_samples_at_the_gateways_own_temperature_for_small_k() -> None:
    assert BestOfKSettings().temperature(5) == ORACLE_TEMPERATURE


def test_an_oracle_sample_is_the_model_alones_body_sampled_with_a_seed() -> None:
    problem = humaneval_problems()[3]
    alone = request_body("qwen", problem, MODEL_ALONE, 768)
    sample = request_body("qwen", problem, oracle_setting(5), 768, seed=3)
    assert sample == {**alone, "temperature": 0.6, "seed": 3}
    assert sample["atlas"] == {"k": 1, "repair": 0, "debug": True}


def test_the_body_is_a_plain_chat_completion_with_the_atlas_field() -> None:
    problem = humaneval_problems()[3]
    body = request_body("qwen", problem, Setting(k=5, repair=1), 768)
    assert body == {
        "model": "qwen",
        "messages": [{"role": "user", "content": user_message(problem)}],
        "max_tokens": 768,
        "temperature": 0,
        "atlas": {"k": 5, "repair": 1, "debug": True},
    }
    assert problem.test not in json.dumps(body)


def test_a_best_of_k_answer_reports_total_tokens_candidates_and_debug() -> None:
    raw = json.dumps(
        {
            "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
            "usage": {"total_tokens": 10},
            "atlas": {"candidates": [1, 2]},
        }
    ).encode()
    reply = parse_answer(raw, 1.5, {"x-atlas-total-tokens": "93", "x-atlas-candidates": "5"})
    assert (reply.content, reply.tokens, reply.candidates, reply.error) == ("hi", 93, 5, None)
    assert reply.debug == {"candidates": [1, 2]} and reply.finish_reason == "stop"
    plain = parse_answer(raw, 1.0, {"x-atlas-route": "fast"})
    assert (plain.tokens, plain.candidates) == (10, 1)


def test_a_malformed_answer_is_a_failure_not_a_crash() -> None:
    reply = parse_answer(b'{"choices": []}', 0.1, {})
    assert reply.error is not None and reply.error.startswith("malformed answer")
    assert reply.candidates == 0
    assert parse_answer(b"not json", 0.1, {}).error is not None


async def test_an_error_status_is_recorded_with_its_message() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-atlas-k"] == "5"
        error = {"error": {"message": "atlas.k must be at least 1", "type": "invalid_request"}}
        return httpx.Response(400, json=error, headers={"x-atlas-request-id": "r1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        reply = await ask(client, "http://gw/v1/chat/completions", {}, Setting(k=5))
    assert reply.status == 400
    assert reply.error == "HTTP 400: atlas.k must be at least 1"
    assert reply.headers == {"x-atlas-request-id": "r1"}


async def test_a_refused_connection_is_status_0() -> None:
    url = chat_url(f"http://127.0.0.1:{free_port()}/v1/")
    assert url.endswith("/v1/chat/completions") and "/v1/v1" not in url
    async with httpx.AsyncClient(timeout=5) as client:
        reply = await ask(client, url, {}, MODEL_ALONE)
    assert reply.status == 0
    assert reply.error is not None and "ConnectError" in reply.error


@pytest.mark.parametrize("base", ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"])
def test_base_urls_with_or_without_v1(base: str) -> None:
    assert chat_url(base) == "http://h:1/v1/chat/completions"
