"""Reading server-sent events the way the specification says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from engines.sse import EventKind, sse_events

pytestmark = pytest.mark.timeout(5)


class Lines:
    """A RawStream that yields scripted lines (without their endings)."""

    status = 200
    headers: Mapping[str, str] = {"content-type": "text/event-stream"}

    def __init__(self, *lines: str) -> None:
        self._lines = lines

    async def read(self) -> bytes:
        return b""

    async def lines(self) -> AsyncIterator[str]:
        for line in self._lines:
            yield line

    def close(self) -> None:
        pass


async def events(*lines: str) -> list[tuple[EventKind, str]]:
    return [event async for event in sse_events(Lines(*lines), "http://up")]


async def test_one_line_events_and_comments() -> None:
    got = await events(": hello", "", "data: one", "", "data:two", "", "data: [DONE]", "")
    assert got == [("data", "one"), ("data", "two"), ("data", "[DONE]")]


async def test_multi_line_data_is_one_payload() -> None:
    got = await events("id: 7", "event: message", "data: {", 'data:  "a": 1', "data: }", "")
    assert got == [("data", '{\n "a": 1\n}')]


async def test_errors_as_a_field_or_an_event_type() -> None:
    got = await events("error: boom", "", "event: error", "data: {}", "", "data: ok", "")
    assert got == [("error", "boom"), ("error", "{}"), ("data", "ok")]


async def test_unknown_fields_and_a_bare_field_name() -> None:
    got = await events("retry: 10", "nonsense", "data", "", "data: x", "")
    assert got == [("data", ""), ("data", "x")]


async def test_an_event_cut_by_the_end_of_the_stream_is_dropped() -> None:
    assert await events("data: one", "", 'data: {"half": ') == [("data", "one")]
