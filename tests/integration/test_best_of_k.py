"""Best-of-k through the real openai SDK: candidates known good and bad, real nsjail."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for

pytestmark = pytest.mark.nsjail

GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
BROKEN = "```python\ndef add(a, b) return\n```"
PROMPT = 'Complete this function:\n```python\ndef add(a, b):\n    """Add two numbers."""\n```'
DOCTEST_PROMPT = (
    'Complete this function:\n```python\ndef add(a, b):\n    """Add two numbers.\n'
    '    >>> add(2, 3)\n    5\n    """\n```'
)
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]


def by_seed(answers: dict[int, str], default: str = BAD) -> Callable[[dict[str, Any]], str]:
    return lambda body: answers.get(body.get("seed", 0), default)


def gateway_with(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, **sections: Any
) -> RunningGateway:
    return gateway_factory(
        make_settings([{"name": "coder", "upstreams": [upstream.url]}], **sections)
    )


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=30)


def ask(prompt: str = PROMPT) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def test_request_tests_pick_the_good_candidate(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({2: GOOD, 1: BROKEN})))
    gw = gateway_with(gateway_factory, upstream)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder",
        messages=ask(),
        seed=0,  # type: ignore[arg-type]
        extra_body={"atlas": {"k": 4, "tests": TESTS, "debug": True}},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == GOOD
    assert raw.headers["x-atlas-route"] == "best-of-k"
    assert raw.headers["x-atlas-k"] == "4"
    assert raw.headers["x-atlas-selection"] == "tests"
    assert raw.headers["x-atlas-verified"] == "1"
    assert raw.headers["x-atlas-tests"] == "request:2"
    assert int(raw.headers["x-atlas-total-tokens"]) > completion.usage.total_tokens  # type: ignore[union-attr]
    sent = [
        r
        for r in upstream.requests_to("/v1/chat/completions")
        if r.headers["x-atlas-purpose"] == "candidate"
    ]
    assert {r.body["seed"] for r in sent} <= {0, 1, 2, 3}
    assert all("atlas" not in r.body for r in sent)
    # Seed 0 is the client's own request (greedy: it sent no temperature); the rest sample.
    assert all(r.body["temperature"] == (0 if r.body["seed"] == 0 else 0.6) for r in sent)
    report = json.loads(raw.http_response.text)["atlas"]
    assert report["winner"] == 2 and report["selection"] == "tests"


def test_prompt_examples_are_trusted_tests_and_stop_early(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(
        Script(content_for=by_seed({0: GOOD}), delay_for=lambda body: 0 if body["seed"] == 0 else 6)
    )
    # A quorum of one: the first candidate to pass the examples stops the search.
    first_pass_stops = {"type": "best_of_k", "k": 1, "early_stop_quorum": 1}
    model = {"name": "coder", "upstreams": [upstream.url], "strategy": first_pass_stops}
    gw = gateway_factory(make_settings([model]))
    started = time.monotonic()
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder", messages=ask(DOCTEST_PROMPT), extra_body={"atlas": {"k": 5}}
    )  # type: ignore[arg-type]
    assert time.monotonic() - started < 4, "early stop did not cut the slow candidates"
    assert raw.parse().choices[0].message.content == GOOD
    assert raw.headers["x-atlas-tests"] == "prompt:1"
    assert raw.headers["x-atlas-candidates"] == "1"
    # k is a ceiling: only the first wave (first_wave = 2) went out, and its slow
    # candidate, no longer needed, was cancelled; with trusted tests no test-writing.
    assert wait_for(lambda: upstream.disconnects == 1), "the slow request was not cancelled"
    purposes = [r.headers["x-atlas-purpose"] for r in upstream.requests_to("/v1/chat/completions")]
    assert sorted(purposes) == ["candidate"] * 2
    assert wait_for(lambda: gw.services.models["coder"].generation.upstreams[0].in_flight == 0)


# Passes the prompt's one example, add(2, 3) == 5, and is wrong elsewhere.
TRICK = "```python\ndef add(a, b):\n    return a + b if a > 1 else a * b\n```"


def test_one_pass_of_the_examples_is_no_quorum_and_agreement_beyond_them_decides(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    # The client's own (greedy) answer passes the one visible example but is wrong; with
    # early_stop_quorum = 2, two that pass and agree on inputs derived from it are needed.
    upstream = upstream_factory(Script(content_for=by_seed({0: TRICK, 2: GOOD, 3: GOOD})))
    model = {
        "name": "coder",
        "upstreams": [{"url": upstream.url, "max_in_flight": 2}],
        "strategy": {"type": "best_of_k", "k": 1, "early_stop_quorum": 2},
    }
    gw = gateway_factory(make_settings([model]))
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder",
        messages=ask(DOCTEST_PROMPT),
        seed=0,  # type: ignore[arg-type]
        extra_body={"atlas": {"k": 8, "debug": True}},
    )
    assert raw.parse().choices[0].message.content == GOOD
    assert raw.headers["x-atlas-tests"] == "prompt:1"
    assert raw.headers["x-atlas-selection"] == "tests+mbr-exec"
    # Waves of two: 0 passes alone (1 fails), then 2 and 3 pass and agree: early stop.
    report = raw.http_response.json()["atlas"]
    assert report["early_stop"] is True and raw.headers["x-atlas-candidates"] == "4"
    assert raw.headers["x-atlas-verified"] == "3" and raw.headers["x-atlas-repair-rounds"] == "0"


def test_without_examples_or_tests_the_typed_signature_gives_inputs_to_agree_on(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    # No examples in the prompt and the model writes no usable test: only the stub's
    # annotations say what to call it with. Two of three candidates agree on those calls.
    typed = (
        'Complete this function:\n```python\ndef add(a: int, b: int) -> int:\n    """Sum."""\n```'
    )
    upstream = upstream_factory(
        Script(content_for=by_seed({0: BAD, 1: GOOD, 2: GOOD}), tests_content="no tests, sorry")
    )
    gw = gateway_with(gateway_factory, upstream)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder",
        messages=ask(typed),
        seed=0,  # type: ignore[arg-type]
        extra_body={"atlas": {"k": 3, "debug": True}},
    )
    assert raw.parse().choices[0].message.content == GOOD
    assert raw.headers["x-atlas-tests"] == "none:0"
    assert raw.headers["x-atlas-selection"] == "mbr-exec"
    report = raw.http_response.json()["atlas"]
    assert [c["scores"]["mbr_cluster"] for c in report["candidates"]] == [1.0, 2.0, 2.0]


def test_streaming_replays_the_winner(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({3: GOOD})))
    gw = gateway_with(gateway_factory, upstream)
    chunks = list(
        sdk(gw).chat.completions.create(
            model="coder",
            messages=ask(),
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
            extra_body={"atlas": {"k": 4, "tests": TESTS}},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == GOOD
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(r.body.get("stream") is not True for r in upstream.received)


def test_tool_calls_are_replayed_in_streams(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "run_tests", "arguments": '{"path": "tests/"}'},
    }
    upstream = upstream_factory(Script(tool_calls=[call]))
    gw = gateway_with(gateway_factory, upstream)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "run_tests",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ]
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        timeout=30,
        json={
            "model": "coder",
            "messages": ask(),
            "tools": tools,
            "stream": True,
            "atlas": {"k": 2},
        },
    ) as response:
        assert response.headers["x-atlas-route"] == "best-of-k"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert {"tool_calls": [{**call, "index": 0}]} in deltas
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # Not forced: a request with tools is passed through.
    plain = httpx.post(
        gw.url + "/v1/chat/completions",
        timeout=30,
        json={"model": "coder", "messages": ask(), "tools": tools},
    )
    assert plain.headers["x-atlas-route"] == "fast"


def test_generated_tests_decide_by_consensus(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    other_bad = "```python\ndef add(a, b):\n    return a * b\n```"
    tests = "```python\nassert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 5) == 5\n```"
    upstream = upstream_factory(
        Script(
            content_for=by_seed({0: BAD, 1: GOOD, 2: other_bad, 3: GOOD, 4: BROKEN}),
            tests_content=tests,
        )
    )
    gw = gateway_with(gateway_factory, upstream)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder", messages=ask(), extra_body={"atlas": {"k": 5, "debug": True}}
    )  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == GOOD
    assert raw.headers["x-atlas-selection"] == "codet"
    assert raw.headers["x-atlas-tests"] == "generated:3"
    assert raw.headers["x-atlas-verified"] == "2"
    test_requests = [r for r in upstream.received if r.headers["x-atlas-purpose"] == "tests"]
    assert len(test_requests) == 2
    assert "add" in test_requests[0].body["messages"][-1]["content"]


def test_all_candidates_failing_is_one_502(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(status=500))
    gw = gateway_with(gateway_factory, upstream)
    with pytest.raises(openai.APIStatusError) as error:
        sdk(gw).chat.completions.create(
            model="coder",
            messages=ask(),  # type: ignore[arg-type]
            extra_body={"atlas": {"k": 3, "tests": TESTS}},
        )
    assert error.value.status_code == 502
    assert "all 3 candidate requests failed" in error.value.message
    assert upstream.url in error.value.message


def test_unavailable_sandbox_falls_back_to_the_first_candidate(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({1: GOOD})))
    gw = gateway_with(gateway_factory, upstream, sandbox={"backend": "disabled"})
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder", messages=ask(), extra_body={"atlas": {"k": 3, "tests": TESTS}}
    )  # type: ignore[arg-type]
    assert raw.headers["x-atlas-selection"] == "unverified"
    assert raw.parse().choices[0].message.content in (GOOD, BAD)
    ready = httpx.get(gw.url + "/ready").json()
    assert ready["sandbox"]["available"] is False


def test_client_disconnect_cancels_all_candidates(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(delay_s=5))
    gw = gateway_with(gateway_factory, upstream)
    # No trusted tests: the model is asked for tests too, and those are cancelled as well.
    body = {"model": "coder", "messages": ask(), "atlas": {"k": 4}}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=0.7)
    sent = 2 + 2  # the first wave's candidates and the two test-writing requests
    assert wait_for(lambda: upstream.disconnects == sent), f"{upstream.disconnects} cancelled"
    with httpx.stream(
        "POST", gw.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=10
    ) as response:
        lines = response.iter_lines()  # kept referenced: dropping it would close the stream
        assert next(lines).startswith(": atlas")
        assert wait_for(lambda: len(upstream.received) == 2 * sent), "requests were not all sent"
    assert wait_for(lambda: upstream.disconnects == 2 * sent), f"{upstream.disconnects} cancelled"
    assert upstream.completed == 0
    assert wait_for(lambda: gw.services.models["coder"].generation.upstreams[0].in_flight == 0)


def test_bad_best_of_k_requests_are_400(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_with(gateway_factory, upstream)
    url = gw.url + "/v1/chat/completions"
    bad_tests = httpx.post(
        url, json={"model": "coder", "messages": ask(), "atlas": {"k": 2, "tests": [42]}}
    )
    assert bad_tests.status_code == 400
    assert bad_tests.json()["error"]["param"] == "atlas.tests"
    bad_k = httpx.post(
        url, headers={"x-atlas-k": "many"}, json={"model": "coder", "messages": ask()}
    )
    assert bad_k.status_code == 400 and bad_k.json()["error"]["param"] == "x-atlas-k"
    capped = httpx.post(
        url, headers={"x-atlas-k": "500"}, json={"model": "coder", "messages": ask()}
    )
    assert capped.headers["x-atlas-k"] == "20"
    # k is a ceiling: answers without code settle the search after its first wave.
    purposes = [r.headers["x-atlas-purpose"] for r in upstream.received]
    assert purposes.count("candidate") == 2
    # The test-writing requests still waiting for a slot when it settles are cancelled.
    assert purposes.count("tests") <= 5


def _repair_answers(body: dict[str, Any]) -> str:
    """Every first answer is wrong; an answer to the jail's evidence is right."""
    last = body["messages"][-1]["content"]
    return GOOD if "does not pass" in last and "assert add(1, 2) == 3" in last else BAD


def test_a_repair_round_with_the_jails_evidence_produces_the_winner(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=_repair_answers))
    gw = gateway_with(gateway_factory, upstream)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="coder",
        messages=ask(),
        extra_body={"atlas": {"k": 2, "tests": TESTS, "debug": True}},
    )  # type: ignore[arg-type]
    assert raw.parse().choices[0].message.content == GOOD
    assert raw.headers["x-atlas-repair-rounds"] == "1"
    assert raw.headers["x-atlas-repaired"] == "1"  # the two wrong answers are the same code
    assert raw.headers["x-atlas-winner-round"] == "1"
    assert raw.headers["x-atlas-verified"] == "1"
    report = raw.http_response.json()["atlas"]
    assert report["repair"] == {"rounds": 1, "repaired": 1, "winner_round": 1}
    repaired = [c for c in report["candidates"] if c["round"] == 1]
    assert repaired[0]["repaired_from"] in (0, 1) and repaired[0]["trusted_passed"] == 2
    sent = upstream.requests_to("/v1/chat/completions")
    repairs = [r for r in sent if r.headers["x-atlas-purpose"] == "repair"]
    assert len(repairs) == 1
    evidence = repairs[0].body["messages"][-1]["content"]
    assert "assertion failed: assert add(1, 2) == 3" in evidence
    # A bare assert hides the value; a probe run in the jail shows what the code returned.
    assert "`add(1, 2)` returned `-1`." in evidence and "`add(-1, 1)` returned `-2`." in evidence
    assert "the whole `add` function" in evidence


STREAMED_REPAIR = {"model": "coder", "stream": True, "atlas": {"k": 2, "tests": TESTS}}


def _slow_repairs(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
    seconds: float,
) -> tuple[ScriptedUpstream, RunningGateway]:
    """Wrong first answers, a right repair that takes `seconds`; progress every 0.2 s."""

    def delay(body: dict[str, Any]) -> float:
        return seconds if "does not pass" in body["messages"][-1]["content"] else 0

    upstream = upstream_factory(Script(content_for=_repair_answers, delay_for=delay))
    gw = gateway_with(gateway_factory, upstream, server={"keepalive_interval_s": 0.2})
    return upstream, gw


def _stream_lines(gw: RunningGateway) -> AbstractContextManager[httpx.Response]:
    body = {**STREAMED_REPAIR, "messages": ask()}
    return httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=30)


def test_a_stream_keeps_reporting_progress_through_a_repair_round(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    _, gw = _slow_repairs(gateway_factory, upstream_factory, 1.0)
    with _stream_lines(gw) as response:
        assert response.headers["x-atlas-route"] == "best-of-k"
        lines = [line for line in response.iter_lines() if line]
    # The repair request waits a second: the client hears about it meanwhile.
    assert lines.count(": atlas repair round 1/1") >= 3, lines
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in data) == GOOD
    assert lines[-1] == "data: [DONE]"


def test_a_client_leaving_during_a_repair_round_cancels_the_repair(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream, gw = _slow_repairs(gateway_factory, upstream_factory, 5.0)
    with _stream_lines(gw) as response:
        lines = response.iter_lines()  # kept referenced: dropping it would close the stream
        assert ": atlas repair round 1/1" in (next(lines) for _ in range(200))
    assert wait_for(lambda: upstream.disconnects == 1), f"{upstream.disconnects} cancelled"
    purposes = [r.headers["x-atlas-purpose"] for r in upstream.requests_to("/v1/chat/completions")]
    assert purposes == ["candidate", "candidate", "repair"]
    assert wait_for(lambda: gw.services.models["coder"].generation.upstreams[0].in_flight == 0)


def test_repair_can_be_turned_off_per_request_and_is_bounded(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=_repair_answers))
    gw = gateway_with(gateway_factory, upstream)
    url = gw.url + "/v1/chat/completions"
    body = {"model": "coder", "messages": ask(), "atlas": {"k": 2, "tests": TESTS, "repair": 0}}
    off = httpx.post(url, json=body)
    assert off.status_code == 200 and off.headers["x-atlas-repair-rounds"] == "0"
    assert off.json()["choices"][0]["message"]["content"] == BAD
    assert not [
        r
        for r in upstream.requests_to("/v1/chat/completions")
        if r.headers["x-atlas-purpose"] == "repair"
    ]
    too_many = httpx.post(url, json={**body, "atlas": {"k": 2, "repair": 9}})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["param"] == "atlas.repair"


def test_k_1_with_repair_verifies_the_clients_own_answer_and_repairs_it(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=_repair_answers))
    gw = gateway_with(gateway_factory, upstream)
    body = {"model": "coder", "messages": ask(), "atlas": {"k": 1, "tests": TESTS, "repair": 1}}
    reply = httpx.post(gw.url + "/v1/chat/completions", json=body)
    assert reply.status_code == 200
    assert reply.headers["x-atlas-route"] == "best-of-k"
    assert reply.headers["x-atlas-winner-round"] == "1"
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    sent = upstream.requests_to("/v1/chat/completions")
    assert [r.headers["x-atlas-purpose"] for r in sent] == ["candidate", "repair"]
    assert sent[0].body["temperature"] == 0  # the client's own request, greedy
    plain = httpx.post(gw.url + "/v1/chat/completions", json={**body, "atlas": {"k": 1}})
    assert plain.headers["x-atlas-route"] == "fast"
