"""Responses input items to chat messages: the turns chat needs, nothing invented."""

from __future__ import annotations

import pytest

from gateway.protocols.responses.request import chat_body
from gateway.protocols.responses.schemas import ResponsesRequest
from gateway.strategies.errors import InvalidCallError


def test_an_assistant_turn_keeps_its_text_and_calls_together() -> None:
    request = ResponsesRequest(
        model="m",
        input=[
            {"role": "user", "content": "Fix it."},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Looking."}],
            },
            {"type": "function_call", "call_id": "a", "name": "ls", "arguments": "{}"},
            {"type": "function_call", "call_id": "b", "name": "cat", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "a", "output": "x.py"},
            {
                "type": "function_call_output",
                "call_id": "b",
                "output": [{"type": "input_text", "text": "print(1)"}],
            },
        ],
    )
    messages = chat_body(request)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Looking."
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["a", "b"]
    assert messages[3] == {"role": "tool", "tool_call_id": "b", "content": "print(1)"}


def test_a_stream_asks_for_usage_and_the_atlas_extension_travels() -> None:
    body = chat_body(ResponsesRequest(model="m", input="hi", stream=True, atlas={"k": 3}))
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["atlas"] == {"k": 3}


def test_only_hosted_tools_leave_no_tools_and_no_tool_choice() -> None:
    body = chat_body(
        ResponsesRequest(model="m", input="hi", tools=[{"type": "web_search"}], tool_choice="auto")
    )
    assert "tools" not in body and "tool_choice" not in body
    with pytest.raises(InvalidCallError) as caught:
        chat_body(
            ResponsesRequest(
                model="m", input="hi", tools=[{"type": "web_search"}], tool_choice="required"
            )
        )
    assert caught.value.param == "tool_choice"


def test_an_empty_input_list_is_refused() -> None:
    with pytest.raises(InvalidCallError) as caught:
        chat_body(ResponsesRequest(model="m", input=[]))
    assert caught.value.param == "input"
