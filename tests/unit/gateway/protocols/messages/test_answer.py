"""A chat completion as a Messages message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engines import UpstreamProtocolError
from gateway.protocols.messages.answer import message_body


def completion(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> bytes:
    answer = {"choices": [{"index": 0, "message": message, "finish_reason": finish}], **extra}
    return json.dumps(answer).encode()


def translate(chat: bytes) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(message_body(chat, model="coder", message_id="msg_1"))
    return out


def test_text_and_usage() -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    assert translate(completion({"role": "assistant", "content": "hi"}, usage=usage)) == {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "model": "coder",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 3},
    }


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish: str | None, reason: str) -> None:
    assert translate(completion({"content": "x"}, finish))["stop_reason"] == reason


def test_tool_calls_become_tool_use_blocks_with_decoded_input() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": ""}},
    ]
    # Some servers finish a tool call with "stop": still tool_use.
    message = translate(completion({"content": "Let me look.", "tool_calls": calls}, "stop"))
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "a", "input": {"x": 1}},
        {"type": "tool_use", "id": "call_2", "name": "b", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


@pytest.mark.parametrize("arguments", ['{"x": ', "[1, 2]", '"text"'])
def test_arguments_that_are_not_a_json_object_are_an_upstream_error(arguments: str) -> None:
    calls = [{"id": "c", "function": {"name": "f", "arguments": arguments}}]
    with pytest.raises(UpstreamProtocolError, match=r"'f'.*not a JSON object"):
        translate(completion({"tool_calls": calls}, "tool_calls"))


def test_an_answer_without_choices_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        translate(b'{"choices": []}')
