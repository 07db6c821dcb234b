"""SSE framing of a strategy's events: exact bytes, the Report handed over before the
last chunks, and the strategy's stream closed as soon as the response ends."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from engines import UpstreamTimeoutError
from gateway.http.sse import sse_frames
from gateway.strategies.base import DONE, Chunk, Comment, Event, Failure, Report
from gateway.strategies.views import Usage

USAGE = Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)


async def frames(events: list[Event], reports: list[Report]) -> list[bytes]:
    async def source() -> AsyncGenerator[Event, None]:
        for event in events:
            yield event

    return [frame async for frame in sse_frames(source(), reports.append)]


async def test_events_become_exact_sse_bytes() -> None:
    reports: list[Report] = []
    out = await frames(
        [Comment("keep-alive"), Chunk(b'{"a":1}'), Report(USAGE), Chunk(b'{"u":7}'), DONE],
        reports,
    )
    assert out == [
        b": keep-alive\n\n",
        b'data: {"a":1}\n\n',
        b'data: {"u":7}\n\n',
        b"data: [DONE]\n\n",
    ]
    assert reports == [Report(USAGE)]


async def test_a_failure_is_an_error_event_then_done() -> None:
    out = await frames([Chunk(b"{}"), Failure(UpstreamTimeoutError("silent", upstream="u"))], [])
    assert out[-1].endswith(b"data: [DONE]\n\n")
    assert b'"code":"upstream_timeout"' in out[-1] and b"upstream u: silent" in out[-1]


async def test_the_report_is_handed_over_before_the_chunks_after_it_are_sent() -> None:
    # A client that leaves during a best-of-k replay is still accounted for.
    reports: list[Report] = []

    async def source() -> AsyncGenerator[Event, None]:
        yield Comment("atlas working")
        yield Report(USAGE)
        yield Chunk(b'{"winner":true}')
        yield DONE

    stream = sse_frames(source(), reports.append)
    assert await anext(stream) == b": atlas working\n\n"
    assert await anext(stream) == b'data: {"winner":true}\n\n'
    assert reports == [Report(USAGE)]
    await stream.aclose()


async def test_the_strategy_stream_is_closed_when_the_response_ends() -> None:
    closed: list[bool] = []

    async def source() -> AsyncGenerator[Event, None]:
        try:
            yield Failure(UpstreamTimeoutError("gone"))
            yield Chunk(b"never")
        finally:
            closed.append(True)  # e.g. cancelling the other upstream readers

    stream = sse_frames(source(), lambda _: None)
    async for _ in stream:
        pass
    assert closed == [True]


async def test_a_stream_that_stops_without_done_still_ends_with_an_error_and_done() -> None:
    out = await frames([Chunk(b'{"a":1}')], [])
    assert out[0] == b'data: {"a":1}\n\n'
    assert b'"code":"upstream_error"' in out[-1] and out[-1].endswith(b"data: [DONE]\n\n")


async def test_an_unexpected_error_mid_stream_is_an_error_event_not_a_cut_stream() -> None:
    async def source() -> AsyncGenerator[Event, None]:
        yield Chunk(b'{"a":1}')
        raise KeyError("choices")

    out = [frame async for frame in sse_frames(source(), lambda _: None)]
    assert out[0] == b'data: {"a":1}\n\n'
    assert b'"code":"internal_error"' in out[-1] and out[-1].endswith(b"data: [DONE]\n\n")
