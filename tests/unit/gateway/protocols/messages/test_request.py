"""A Messages request as a chat body: every block type, tools, tool_choice, sampling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.http.errors import APIError
from gateway.http.requests import decode_request
from gateway.protocols.messages.request import TOOL_ERROR_NOTE, to_chat
from gateway.protocols.messages.schemas import MessagesRequest
from gateway.strategies.errors import InvalidCallError


def chat_body(**fields: Any) -> dict[str, Any]:
    request = {"model": "coder", "max_tokens": 64, **fields}
    wire = decode_request(json.dumps(request).encode(), MessagesRequest)
    body: dict[str, Any] = json.loads(to_chat(wire).body)
    return body


def test_system_blocks_and_sampling_fields_map_to_chat() -> None:
    body = chat_body(
        system=[
            {"type": "text", "text": "You are a coder.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."},
        ],
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["END"],
        temperature=0.2,
        top_p=0.9,
        top_k=20,
        stream=True,
        metadata={"user_id": "u"},
        thinking={"type": "adaptive"},
    )
    assert body == {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "You are a coder.\nBe brief."},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 64,
        "stream": True,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 20,
        "stop": ["END"],
    }


def test_tool_use_and_tool_result_become_tool_calls_and_tool_messages() -> None:
    body = chat_body(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"},
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ]
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": "rain", "tool_call_id": "toolu_1"},
        {"role": "user", "content": "and tomorrow?"},
    ]


def test_an_assistant_turn_of_only_tool_calls_has_null_content() -> None:
    body = chat_body(
        messages=[
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
        ]
    )
    assert "content" not in body["messages"][1]  # None is omitted: chat reads it as null
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_a_failed_tool_result_says_so_and_its_images_follow_as_a_user_message() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
    }
    body = chat_body(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "is_error": True,
                        "content": [{"type": "text", "text": "exit 1"}, image],
                    }
                ],
            }
        ]
    )
    assert body["messages"] == [
        {"role": "tool", "content": TOOL_ERROR_NOTE + "exit 1", "tool_call_id": "t1"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}],
        },
    ]


def test_images_become_data_urls_next_to_their_text() -> None:
    body = chat_body(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            }
        ]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]


def test_a_system_message_inside_messages_stays_where_it_is() -> None:
    body = chat_body(
        system="top",
        messages=[
            {"role": "user", "content": "a"},
            {"role": "system", "content": [{"type": "text", "text": "mid"}]},
            {"role": "user", "content": "b"},
        ],
    )
    assert [m["role"] for m in body["messages"]] == ["system", "user", "system", "user"]
    assert body["messages"][2]["content"] == "mid"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
            {
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "parallel_tool_calls": False,
            },
        ),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
    body = chat_body(
        messages=[{"role": "user", "content": "x"}],
        tools=[{"name": "f", "description": "does f", "input_schema": schema}],
        tool_choice=choice,
    )
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": schema, "description": "does f"},
        }
    ]
    assert {k: body[k] for k in expected} == expected


def test_server_tools_are_dropped() -> None:
    body = chat_body(
        messages=[{"role": "user", "content": "x"}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        tool_choice={"type": "auto"},
    )
    assert "tools" not in body and "tool_choice" not in body


def test_an_unknown_block_type_is_refused_by_name() -> None:
    request = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}],
    }
    with pytest.raises(APIError, match="document") as caught:
        decode_request(json.dumps(request).encode(), MessagesRequest)
    assert caught.value.status == 400


def test_a_tool_choice_of_type_tool_needs_a_name() -> None:
    with pytest.raises(InvalidCallError, match="name"):
        chat_body(
            messages=[{"role": "user", "content": "x"}],
            tools=[{"name": "f", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool"},
        )
