"""The Messages edge's framing: Anthropic events, the Report handed over, and every way
a stream can go wrong ending in one `event: error` frame (never a cut stream, no [DONE])."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from engines import UpstreamTimeoutError, UpstreamUnavailableError
from gateway.http.errors import ANTHROPIC_TYPES, anthropic_type
from gateway.http.messages_edge import MessagesEdge
from gateway.http.sse import sse_frames
from gateway.strategies.base import DONE, Chunk, Comment, Event, Failure, Report
from gateway.strategies.views import Usage

USAGE = Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
TEXT = Chunk(b'{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}')
FINISH = Chunk(b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
USAGE_CHUNK = Chunk(b'{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}')


async def frames(events: list[Event], reports: list[Report] | None = None) -> list[bytes]:
    async def source() -> AsyncGenerator[Event, None]:
        for event in events:
            yield event

    edge = MessagesEdge(model="coder", message_id="msg_1")
    sink = reports if reports is not None else []
    out = b"".join([data async for data in sse_frames(source(), sink.append, None, edge.framer())])
    return [frame + b"\n\n" for frame in out.split(b"\n\n") if frame]


def kinds(out: list[bytes]) -> list[str]:
    return [frame.split(b"\n", 1)[0].decode().removeprefix("event: ") for frame in out]


def error_of(frame: bytes) -> dict[str, Any]:
    assert frame.startswith(b"event: error\ndata: ")
    body: dict[str, Any] = json.loads(frame.split(b"data: ", 1)[1])
    assert body["type"] == "error"
    return dict(body["error"])


async def test_a_whole_stream() -> None:
    reports: list[Report] = []
    out = await frames(
        [Comment("keep-alive"), TEXT, FINISH, Report(USAGE), USAGE_CHUNK, DONE], reports
    )
    assert kinds(out) == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert reports == [Report(USAGE)]
    assert json.loads(out[-2].split(b"data: ")[1])["usage"] == {
        "input_tokens": 3,
        "output_tokens": 4,
    }
    assert all(b"[DONE]" not in frame for frame in out)


async def test_a_failure_is_one_error_event_of_its_type() -> None:
    out = await frames([TEXT, Failure(UpstreamTimeoutError("silent", upstream="u"))])
    assert kinds(out) == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert error_of(out[-1]) == {"type": "api_error", "message": "upstream u: silent"}
    out = await frames([Failure(UpstreamUnavailableError("busy"))])
    assert error_of(out[-1])["type"] == "overloaded_error"


async def test_done_without_a_finish_reason_is_an_error() -> None:
    out = await frames([TEXT, DONE])
    assert kinds(out)[-1] == "error" and "message_stop" not in kinds(out)


async def test_a_stream_that_stops_without_done_is_an_error() -> None:
    out = await frames([TEXT, FINISH])
    assert kinds(out)[-1] == "error"
    assert "ended before it was complete" in error_of(out[-1])["message"]


async def test_broken_tool_arguments_end_the_stream_with_an_error() -> None:
    function = {"name": "f", "arguments": "{x"}
    delta = {"tool_calls": [{"index": 0, "id": "c", "function": function}]}
    call = json.dumps({"choices": [{"delta": delta}]}).encode()
    out = await frames([Chunk(call), FINISH, DONE])
    assert kinds(out)[-1] == "error"
    assert error_of(out[-1])["type"] == "api_error"


async def test_a_bug_below_still_ends_with_an_error_and_closes_the_source() -> None:
    closed: list[bool] = []

    async def source() -> AsyncGenerator[Event, None]:
        try:
            yield TEXT
            raise RuntimeError("bug")
        finally:
            closed.append(True)

    edge = MessagesEdge(model="coder", message_id="msg_1")
    out = [frame async for frame in sse_frames(source(), lambda _: None, None, edge.framer())]
    assert error_of(out[-1]) == {
        "type": "api_error",
        "message": "internal error in the ATLAS gateway",
    }
    assert closed == [True]


def test_the_json_answer_carries_the_requested_model() -> None:
    edge = MessagesEdge(model="claude-sonnet", message_id="msg_9")
    chat = b'{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}'
    message = json.loads(edge.answer_body(chat))
    assert message["model"] == "claude-sonnet" and message["id"] == "msg_9"


def test_anthropic_types_by_status() -> None:
    assert anthropic_type(401) == "authentication_error"
    assert anthropic_type(413) == "request_too_large"
    assert anthropic_type(405) == "invalid_request_error"  # not in the table: by class
    assert anthropic_type(501) == "api_error"
    assert set(ANTHROPIC_TYPES.values()) == {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    }
