"""Every upstream answer is checked to be the API before it goes on."""

from __future__ import annotations

import json

import pytest

from engines import UpstreamProtocolError, UpstreamReply
from gateway.strategies.replies import (
    chat_completion,
    check_embeddings,
    check_event_stream,
    chunk_view,
    completion_view,
    one_line,
)

UP = "http://up"
CHAT = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
NOT_COMPLETIONS = [
    b"<html><body>502 Bad Gateway</body></html>",
    b'{"choices": [{"index": 0, "message": {"content": "cut',
    b'{"object": "chat.completion"}',
    b'{"choices": 3}',
    b'{"choices": [{"message": {"content": 5}}]}',
    b'{"error": {"message": "oops"}}',
    b"[]",
    b"",
]


def reply(body: bytes | dict[str, object]) -> UpstreamReply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return UpstreamReply(UP, 200, raw, "application/json")


def test_a_completion_is_read() -> None:
    view = completion_view(json.dumps(CHAT).encode(), UP)
    assert view.choices[0].message is not None and view.choices[0].message.content == "hi"
    assert chat_completion(reply(CHAT)) == CHAT


@pytest.mark.parametrize("body", NOT_COMPLETIONS)
def test_anything_else_is_a_protocol_error_naming_the_upstream(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError, match="not a completion") as info:
        completion_view(body, UP)
    assert info.value.upstream == UP and info.value.status == 502
    with pytest.raises(UpstreamProtocolError, match="not a chat completion"):
        chat_completion(reply(body))


def test_best_of_k_gets_only_the_types_it_reads() -> None:
    bad_tool_calls = {"choices": [{"message": {"content": None, "tool_calls": ["x"]}}]}
    with pytest.raises(UpstreamProtocolError):
        chat_completion(reply(bad_tool_calls))


def test_embeddings() -> None:
    good = {"object": "list", "data": [{"index": 0, "embedding": [0.1, 0.2]}]}
    assert check_embeddings(reply(good)) == json.dumps(good).encode()
    assert check_embeddings(reply({"data": [{"embedding": "AAAA"}]}))  # base64
    for bad in (b"<html>", b'{"data": [{"index": 0}]}', b'{"data": [{"embedding": [0.1,'):
        with pytest.raises(UpstreamProtocolError, match="not an embeddings answer"):
            check_embeddings(reply(bad))


def test_stream_chunks() -> None:
    view = chunk_view('{"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}]}', UP)
    assert view.choices and view.choices[0].finish_reason == "stop"
    assert chunk_view('{"choices": [], "usage": {"prompt_tokens": 1}}', UP).usage is not None
    for bad in ("not json", '{"object": "thing"}', '{"choices": "x"}', "42", '{"choices": [1'):
        with pytest.raises(UpstreamProtocolError) as info:
            chunk_view(bad, UP)
        assert info.value.upstream == UP
    with pytest.raises(UpstreamProtocolError, match="stream error: context full"):
        chunk_view('{"error": {"message": "context full", "code": 500}}', UP)


def test_a_stream_must_be_an_event_stream() -> None:
    check_event_stream("text/event-stream; charset=utf-8", UP)
    check_event_stream("", UP)  # unlabelled: read, and judged by its events
    for wrong in ("application/json", "text/html"):
        with pytest.raises(UpstreamProtocolError, match=wrong):
            check_event_stream(wrong, UP)


def test_a_multi_line_payload_becomes_one_line() -> None:
    payload = '{\r\n "a": "b\\nc"\n}'
    assert one_line(payload) == '{ "a": "b\\nc"}'
    assert json.loads(one_line(payload)) == json.loads(payload)
    same = '{"a": 1}'
    assert one_line(same) is same
