"""Chat stream chunks as Messages stream events: block boundaries, deltas, the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engines import UpstreamProtocolError
from gateway.protocols.messages.stream import StreamTranslator


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return json.dumps({"object": "chat.completion.chunk", "choices": [choice]}).encode()


def usage_chunk(prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return json.dumps({"choices": [], "usage": usage}).encode()


def events(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in frames:
        head, data = frame.decode().removesuffix("\n\n").split("\n")
        kind = head.removeprefix("event: ")
        payload = json.loads(data.removeprefix("data: "))
        assert payload["type"] == kind
        out.append((kind, payload))
    return out


def run(chunks: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    translator = StreamTranslator(model="coder", message_id="msg_1")
    frames = [translator.start()]
    for data in chunks:
        frames += translator.chunk(data)
    frames += translator.end()
    return events(frames)


def test_text_stream() -> None:
    out = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            usage_chunk(9, 2),
        ]
    )
    assert [kind for kind, _ in out] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = out[0][1]["message"]
    assert start["id"] == "msg_1" and start["content"] == [] and start["model"] == "coder"
    assert out[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert out[2][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert out[5][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"input_tokens": 9, "output_tokens": 2},
    }


def test_text_then_two_tool_calls_are_three_blocks() -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    out = run(
        [
            chunk({"content": "ok"}),
            chunk(call(0, id="c0", function={"name": "read", "arguments": '{"pa'})),
            chunk(call(0, function={"arguments": 'th": "a"}'})),
            chunk(call(1, id="c1", function={"name": "ls", "arguments": ""})),
            chunk({}, "tool_calls"),
        ]
    )
    starts = [e for kind, e in out if kind == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2]
    assert starts[1]["content_block"] == {
        "type": "tool_use",
        "id": "c0",
        "name": "read",
        "input": {},
    }
    assert starts[2]["content_block"]["name"] == "ls"
    partial = [
        e["delta"]["partial_json"]
        for kind, e in out
        if e.get("index") == 1 and kind == "content_block_delta"
    ]
    assert "".join(partial) == '{"path": "a"}'
    stops = [e["index"] for kind, e in out if kind == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert out[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_length_is_max_tokens_and_nothing_after_the_finish_is_sent() -> None:
    out = run([chunk({"content": "a"}), chunk({}, "length"), chunk({"content": "late"})])
    assert out[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert all(e.get("delta", {}).get("text") != "late" for _, e in out)


def test_broken_tool_arguments_fail_when_the_block_closes() -> None:
    translator = StreamTranslator(model="m", message_id="msg_1")
    translator.chunk(
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{oops"}}
                ]
            }
        )
    )
    with pytest.raises(UpstreamProtocolError, match="not a JSON object"):
        translator.chunk(chunk({}, "tool_calls"))


def test_unfinished_until_the_finish_reason() -> None:
    translator = StreamTranslator(model="m", message_id="msg_1")
    translator.chunk(chunk({"content": "a"}))
    assert not translator.finished
    translator.chunk(chunk({}, "stop"))
    assert translator.finished
