"""The Dispatcher over an in-memory transport: failover, pass-through of refusals, slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import pytest

from engines.dispatch import Dispatcher
from engines.errors import (
    EngineError,
    UpstreamProtocolError,
    UpstreamRejectedError,
    UpstreamStalledError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from engines.pool import Upstream, UpstreamPool
from engines.sse import sse_events
from engines.transport import RawReply

pytestmark = pytest.mark.timeout(5)

JSON = {"content-type": "application/json"}


@dataclass
class Answer:
    """How one upstream answers: a status and body, a stream of lines, or a failure."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    lines: list[str] = field(default_factory=list)
    fail: type[EngineError] | None = None  # raised instead of answering
    delay_s: float = 0.0
    fail_mid_stream: bool = False


class FakeStream:
    def __init__(self, answer: Answer, upstream: str) -> None:
        self.status = answer.status
        self.headers: Mapping[str, str] = answer.headers
        self._answer = answer
        self._upstream = upstream
        self.closed = 0

    async def read(self) -> bytes:
        return self._answer.body

    async def lines(self) -> AsyncIterator[str]:
        for line in self._answer.lines:
            yield line
        if self._answer.fail_mid_stream:
            raise UpstreamProtocolError("connection reset", upstream=self._upstream)

    def close(self) -> None:
        self.closed += 1


class FakeTransport:
    """Answers by upstream base URL, as scripted; records every call and stream."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, bytes]] = []
        self.streams: list[FakeStream] = []

    async def _answer(self, url: str, body: bytes, upstream: str) -> Answer:
        self.calls.append((upstream, url, body))
        answer = self.answers[upstream]
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.fail is not None:
            raise answer.fail("connect failed: refused", upstream=upstream)
        return answer

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> RawReply:
        answer = await self._answer(url, body, upstream)
        return RawReply(answer.status, answer.headers, answer.body)

    async def open_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], *, upstream: str
    ) -> FakeStream:
        stream = FakeStream(await self._answer(url, body, upstream), upstream)
        self.streams.append(stream)
        return stream

    async def get(self, url: str, timeout_s: float) -> int:
        return 200

    async def aclose(self) -> None:
        pass


@dataclass
class Setup:
    transport: FakeTransport
    dispatcher: Dispatcher
    pool: UpstreamPool
    a: Upstream
    b: Upstream
    outcomes: list[tuple[str, str, str]]
    replies: list[tuple[str, bytes]]

    def slots_free(self) -> bool:
        return self.a.in_flight == 0 and self.b.in_flight == 0


def setup(
    a: Answer,
    b: Answer | None = None,
    *,
    total_timeout_s: float = 900.0,
    headers_timeout_s: float = 900.0,
) -> Setup:
    transport = FakeTransport({"http://a": a, "http://b": b or Answer()})
    outcomes: list[tuple[str, str, str, str]] = []
    replies: list[tuple[str, bytes]] = []
    dispatcher = Dispatcher(
        transport,
        total_timeout_s=total_timeout_s,
        headers_timeout_s=headers_timeout_s,
        observer=lambda *args: outcomes.append(args),
        reply_observer=lambda url, body: replies.append((url, body)),
    )
    up_a, up_b = Upstream("http://a"), Upstream("http://b")  # equal load: a is tried first
    pool = UpstreamPool("m", [up_a, up_b])
    return Setup(transport, dispatcher, pool, up_a, up_b, outcomes, replies)


async def test_json_reply_marks_healthy_and_is_observed() -> None:
    s = setup(Answer(body=b'{"id": 1}', headers={}))
    reply = await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert (reply.upstream, reply.status, reply.body) == ("http://a", 200, b'{"id": 1}')
    assert reply.content_type == "application/json"  # the default when none is sent
    assert s.transport.calls == [("http://a", "http://a/v1/chat/completions", b"{}")]
    assert s.a.healthy is True and s.slots_free()
    assert s.outcomes == [("m", "http://a", "generation", "ok")]
    assert s.replies == [("http://a", b'{"id": 1}')]


async def test_connect_error_fails_over_and_marks_the_upstream_down() -> None:
    s = setup(Answer(fail=UpstreamUnavailableError))
    reply = await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert reply.upstream == "http://b"
    assert s.a.healthy is False and s.a.last_error == "connect failed: refused"
    assert s.outcomes == [
        ("m", "http://a", "generation", "unavailable"),
        ("m", "http://b", "generation", "ok"),
    ]
    assert s.slots_free()


async def test_5xx_fails_over_without_marking_the_upstream_down() -> None:
    s = setup(Answer(status=500, body=b"boom"))
    reply = await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert reply.upstream == "http://b"
    assert s.a.healthy is None
    assert s.outcomes == [
        ("m", "http://a", "generation", "error"),
        ("m", "http://b", "generation", "ok"),
    ]
    assert s.slots_free()


async def test_503_takes_the_upstream_out_of_rotation() -> None:
    s = setup(Answer(status=503, body=b"loading model"))
    reply = await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert reply.upstream == "http://b"
    assert s.a.healthy is False and s.a.last_error == "503 from upstream"
    assert s.pool.usable() == [s.b]


async def test_two_failures_raise_the_last_one() -> None:
    s = setup(Answer(status=500, body=b"first"), Answer(status=502, body=b"second"))
    with pytest.raises(UpstreamProtocolError, match="upstream answered 502: second") as info:
        await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert info.value.upstream == "http://b" and info.value.status == 502
    assert len(s.transport.calls) == 2 and s.slots_free()


async def test_no_second_attempt_when_the_other_upstream_is_down() -> None:
    s = setup(Answer(status=500, body=b"boom"))
    s.pool.mark(s.b, False, "down")
    with pytest.raises(UpstreamProtocolError, match="answered 500"):
        await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert len(s.transport.calls) == 1 and s.slots_free()


async def test_4xx_is_passed_through_with_retry_after() -> None:
    headers = {"content-type": "application/json", "retry-after": "7", "x-other": "no"}
    s = setup(Answer(status=429, body=b'{"error": "slow down"}', headers=headers))
    with pytest.raises(UpstreamRejectedError) as info:
        await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    exc = info.value
    assert (exc.status, exc.body, exc.upstream) == (429, b'{"error": "slow down"}', "http://a")
    assert exc.headers == {"retry-after": "7", "content-type": "application/json"}
    assert len(s.transport.calls) == 1  # another upstream would refuse it too
    assert s.outcomes == [("m", "http://a", "generation", "rejected")] and s.slots_free()


async def test_total_timeout_is_not_retried() -> None:
    s = setup(Answer(delay_s=1.0), total_timeout_s=0.05)
    with pytest.raises(UpstreamTimeoutError, match=r"no answer within 0.05 s") as info:
        await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert info.value.upstream == "http://a"
    assert len(s.transport.calls) == 1 and s.slots_free()
    assert s.outcomes == [("m", "http://a", "generation", "timeout")]


async def test_cancelled_request_releases_its_slot_unobserved() -> None:
    s = setup(Answer(delay_s=1.0))
    task = asyncio.create_task(s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON))
    await asyncio.sleep(0.01)
    assert s.a.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert s.slots_free() and s.outcomes == []


STREAM_LINES = ["data: one", "", ": a comment", "data: two", "", "error: oops", ""]


async def test_stream_yields_events_then_closes_and_releases() -> None:
    s = setup(Answer(lines=STREAM_LINES, headers={"content-type": "text/event-stream"}))
    async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON) as (
        upstream,
        stream,
    ):
        assert upstream is s.a and s.a.in_flight == 1 and stream.status == 200
        events = [event async for event in sse_events(stream, upstream.url)]
    assert events == [("data", "one"), ("data", "two"), ("error", "oops")]
    assert s.transport.streams[0].closed == 1 and s.slots_free()
    assert s.outcomes == [("m", "http://a", "generation", "ok")]


@pytest.mark.parametrize(
    "first",
    [Answer(fail=UpstreamUnavailableError), Answer(status=502, body=b"bad gateway")],
    ids=["connect-error", "5xx"],
)
async def test_stream_fails_over_before_the_first_byte(first: Answer) -> None:
    s = setup(first, Answer(lines=["data: from b", ""]))
    async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON) as (
        upstream,
        stream,
    ):
        assert upstream is s.b
        events = [event async for event in sse_events(stream, upstream.url)]
    assert events == [("data", "from b")]
    assert all(opened.closed == 1 for opened in s.transport.streams)
    assert s.slots_free()


async def test_stream_refusal_is_read_closed_and_passed_through() -> None:
    s = setup(Answer(status=400, body=b'{"error": "bad"}'))
    with pytest.raises(UpstreamRejectedError) as info:
        async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON):
            pytest.fail("a refused stream must not be entered")
    assert info.value.status == 400 and info.value.body == b'{"error": "bad"}'
    assert [opened.closed for opened in s.transport.streams] == [1]
    assert len(s.transport.calls) == 1 and s.slots_free()


async def test_stream_failure_mid_way_is_not_retried_and_closes() -> None:
    s = setup(Answer(lines=["data: one", ""], fail_mid_stream=True))
    seen: list[tuple[str, str]] = []
    with pytest.raises(UpstreamProtocolError, match="connection reset"):
        async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON) as (
            upstream,
            stream,
        ):
            async for event in sse_events(stream, upstream.url):
                seen.append(event)
    assert seen == [("data", "one")] and len(s.transport.calls) == 1
    assert s.transport.streams[0].closed == 1 and s.slots_free()


async def test_callers_error_inside_the_stream_closes_and_releases() -> None:
    s = setup(Answer(lines=["data: one", ""]))
    with pytest.raises(KeyError):
        async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON):
            raise KeyError("the caller's own failure passes through")
    assert s.transport.streams[0].closed == 1 and s.slots_free()


async def test_stream_with_every_upstream_down_is_unavailable() -> None:
    s = setup(Answer(fail=UpstreamUnavailableError), Answer(fail=UpstreamUnavailableError))
    with pytest.raises(UpstreamUnavailableError, match="connect failed"):
        async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON):
            pytest.fail("no stream opened")
    assert s.pool.usable() == [] and s.slots_free()


async def test_a_stall_before_the_first_byte_fails_over_without_marking_down() -> None:
    s = setup(Answer(fail=UpstreamStalledError))
    reply = await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert reply.upstream == "http://b"
    assert s.a.healthy is None  # busy, perhaps: the health checks decide
    assert s.outcomes == [
        ("m", "http://a", "generation", "timeout"),
        ("m", "http://b", "generation", "ok"),
    ]
    async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON) as (upstream, _):
        assert upstream is s.b or upstream is s.a
    assert s.slots_free()


async def test_a_timeout_after_the_first_byte_is_not_retried() -> None:
    s = setup(Answer(fail=UpstreamTimeoutError))
    with pytest.raises(UpstreamTimeoutError):
        await s.dispatcher.post_json(s.pool, "/v1/chat/completions", b"{}", JSON)
    assert len(s.transport.calls) == 1 and s.slots_free()


async def test_stream_headers_past_their_bound_are_a_timeout_without_failover() -> None:
    s = setup(Answer(delay_s=1.0, lines=["data: x", ""]), headers_timeout_s=0.05)
    with pytest.raises(UpstreamTimeoutError, match=r"no complete headers within 0\.05 s") as info:
        async with s.dispatcher.stream(s.pool, "/v1/chat/completions", b"{}", JSON):
            pytest.fail("no stream opened")
    assert not isinstance(info.value, UpstreamStalledError)
    assert info.value.upstream == "http://a"
    assert len(s.transport.calls) == 1 and s.slots_free()
    assert s.outcomes == [("m", "http://a", "generation", "timeout")]
