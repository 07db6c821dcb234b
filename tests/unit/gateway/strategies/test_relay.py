"""The relay over an in-memory upstream: what reaches the client of a broken stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping

import pytest

from engines import Dispatcher, EngineError, RawReply, Upstream, UpstreamPool
from gateway.strategies import relay as relay_module
from gateway.strategies.base import Chunk, Done, Event, Failure, Report
from gateway.strategies.relay import StreamPlan, relay
from gateway.strategies.tokens import TokenCounter

pytestmark = pytest.mark.timeout(5)

SSE = {"content-type": "text/event-stream"}


def chunk(text: str, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": finish}
    return "data: " + json.dumps({"id": "c", "choices": [choice]})


class Stream:
    def __init__(self, lines: list[str], headers: Mapping[str, str]) -> None:
        self.status = 200
        self.headers = headers
        self._lines = lines

    async def read(self) -> bytes:
        return b""

    async def lines(self) -> AsyncIterator[str]:
        for line in self._lines:
            yield line

    def close(self) -> None:
        pass


class Transport:
    def __init__(self, lines: list[str], headers: Mapping[str, str] = SSE) -> None:
        self.lines = lines
        self.headers = headers

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawReply:
        raise NotImplementedError

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> Stream:
        return Stream(self.lines, self.headers)

    async def get(self, url: str, timeout_s: float) -> int:
        return 200

    async def aclose(self) -> None:
        pass


async def run(lines: list[str], headers: Mapping[str, str] = SSE) -> list[Event]:
    pool = UpstreamPool("m", [Upstream("http://up")])
    plan = StreamPlan(
        pool=pool,
        path="/v1/chat/completions",
        bodies=[b"{}"],
        headers={},
        include_usage=False,
        keepalive_s=5,
        prompt_text="hi",
    )
    events = relay(Dispatcher(Transport(lines, headers)), plan, TokenCounter())
    assert await anext(events) is None
    out = [event async for event in events if event is not None]
    assert pool.upstreams[0].in_flight == 0
    return out


def failure(events: list[Event]) -> EngineError:
    assert isinstance(events[-1], Failure), events
    assert not any(isinstance(e, Done | Report) for e in events)
    return events[-1].error


async def test_a_good_stream_ends_with_done() -> None:
    events = await run([chunk("a"), "", chunk("", "stop"), "", "data: [DONE]", ""])
    assert isinstance(events[-1], Done)
    assert [json.loads(e.data)["choices"][0]["delta"] for e in events if isinstance(e, Chunk)] == [
        {"content": "a"},
        {"content": ""},
    ]


async def test_a_multi_line_event_is_re_framed_as_one_line() -> None:
    pretty = json.dumps(json.loads(chunk("a", "stop").removeprefix("data: ")), indent=1)
    lines = [f"data: {line}" for line in pretty.split("\n")]
    events = await run([*lines, "", "data: [DONE]", ""])
    sent = [e for e in events if isinstance(e, Chunk)]
    assert len(sent) == 1 and b"\n" not in sent[0].data
    assert json.loads(sent[0].data)["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "lines",
    [
        [chunk("a"), "", "data: [DONE]", ""],  # [DONE] but no finish_reason
        [chunk("a"), ""],  # half a stream, then a clean end
        [],  # a 200 with nothing in it
    ],
    ids=["done-without-finish", "half-then-eof", "empty"],
)
async def test_a_stream_that_ends_before_its_finish_reason_is_an_error(lines: list[str]) -> None:
    assert "ended before its finish_reason" in failure(await run(lines)).message


@pytest.mark.parametrize(
    "event", ["data: hello", 'data: {"object": "x"}', 'data: {"error": {"message": "boom"}}']
)
async def test_an_event_that_is_not_a_chunk_is_an_error(event: str) -> None:
    error = failure(await run([chunk("a"), "", event, "", chunk("", "stop"), ""]))
    assert error.upstream == "http://up"


async def test_an_answer_that_is_not_an_event_stream_fails_before_any_byte() -> None:
    events = relay(
        Dispatcher(Transport([], {"content-type": "text/html"})),
        StreamPlan(UpstreamPool("m", [Upstream("http://up")]), "/p", [b"{}"], {}, False, 5, ""),
        TokenCounter(),
    )
    with pytest.raises(EngineError, match="not text/event-stream"):
        await anext(events)


async def test_kept_text_is_bounded_and_the_rest_estimated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "MAX_KEPT_CHARS", 8)
    lines = [chunk("abcdefgh"), "", chunk("x" * 400), "", chunk("", "stop"), ""]
    events = await run(lines)
    report = next(e for e in events if isinstance(e, Report))
    assert report.usage.completion_tokens >= 100  # 400 characters estimated at 4 a token
