"""The chat-stream to Responses-events translator, chunk by chunk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engines import UpstreamProtocolError
from gateway.protocols.responses.answer import responses_answer
from gateway.protocols.responses.schemas import ResponsesRequest
from gateway.protocols.responses.stream import ResponsesStream

REQUEST = ResponsesRequest(model="coder", input="hi")


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return json.dumps({"object": "chat.completion.chunk", "choices": [choice]}).encode()


def usage_chunk() -> bytes:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    return json.dumps({"choices": [], "usage": usage}).encode()


def events(frames: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in frames.decode().split("\n\n"):
        if not frame:
            continue
        name, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == "event: " + event["type"]
        out.append(event)
    return out


def run(*chunks: bytes) -> list[dict[str, Any]]:
    stream = ResponsesStream(REQUEST)
    frames = stream.start() + b"".join(stream.feed(c) for c in chunks) + stream.finish()
    return events(frames)


def test_text_then_a_tool_call_closes_the_message_before_the_call_opens() -> None:
    out = run(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me run "}),
        chunk({"content": "them."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "run"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        chunk(finish="tool_calls"),
        usage_chunk(),
    )
    assert [e["type"] for e in out] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    assert out[6]["text"] == "Let me run them."
    assert out[9]["output_index"] == 1 and out[9]["item"]["call_id"] == "call_1"
    assert out[12]["arguments"] == '{"a": 1}' and out[12]["name"] == "run"
    final = out[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["usage"]["input_tokens"] == 3 and final["usage"]["output_tokens"] == 4


def test_a_length_stop_is_an_incomplete_response() -> None:
    out = run(chunk({"content": "def f("}), chunk(finish="length"))
    final = out[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["status"] == "incomplete"


def test_the_response_created_event_shows_no_output_yet() -> None:
    out = run(chunk({"content": "x"}), chunk(finish="stop"))
    assert out[0]["response"]["output"] == [] and out[0]["response"]["status"] == "in_progress"
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == "x"


def test_a_failure_is_response_failed_with_the_error() -> None:
    stream = ResponsesStream(REQUEST)
    stream.start()
    stream.feed(chunk({"content": "partial"}))
    [failed] = events(stream.fail("upstream_error", "upstream u1: connection dropped"))
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"] == {
        "code": "upstream_error",
        "message": "upstream u1: connection dropped",
    }


def test_a_chunk_that_is_not_a_chat_chunk_is_an_upstream_error() -> None:
    stream = ResponsesStream(REQUEST)
    with pytest.raises(UpstreamProtocolError):
        stream.feed(b'{"choices": "nope"}')


def test_a_json_answer_with_text_and_calls() -> None:
    chat = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": "Running.",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "run", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    }
    answer = json.loads(responses_answer(json.dumps(chat).encode(), REQUEST))
    assert [item["type"] for item in answer["output"]] == ["message", "function_call"]
    assert answer["output"][0]["content"] == [
        {"type": "output_text", "text": "Running.", "annotations": []}
    ]
    assert answer["output"][1]["call_id"] == "c1"
    assert answer["usage"]["total_tokens"] == 5 and answer["status"] == "completed"
    assert answer["store"] is False and answer["previous_response_id"] is None
