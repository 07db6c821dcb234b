"""The aiohttp transport against a fault-injecting upstream on loopback: each way an
upstream can break becomes the right domain error, tagged with the upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from engines.client import AiohttpStream, ClientLimits, UpstreamClient
from engines.errors import (
    UpstreamProtocolError,
    UpstreamStalledError,
    UpstreamTimeoutError,
)
from tests.fakes.faulty_upstream import FaultyUpstream

pytestmark = pytest.mark.timeout(10)

BODY = b'{"model": "m", "messages": [], "stream": true}'
JSON_BODY = b'{"model": "m", "messages": []}'
HEADERS = {"content-type": "application/json"}
LIMITS = ClientLimits(
    connect_timeout_s=1,
    read_timeout_s=0.3,
    stream_first_byte_timeout_s=0.3,
    stream_idle_timeout_s=0.2,
)


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
async def client(faulty: FaultyUpstream) -> AsyncIterator[UpstreamClient]:
    faulty.set(None)
    http = UpstreamClient(LIMITS)
    yield http
    await http.aclose()


async def _lines(client: UpstreamClient, url: str) -> list[str]:
    stream: AiohttpStream = await client.open_stream(
        url + "/v1/chat/completions", BODY, HEADERS, upstream=url
    )
    try:
        return [line async for line in stream.lines()]
    finally:
        stream.close()


async def test_a_good_stream_is_read_line_by_line(
    client: UpstreamClient, faulty: FaultyUpstream
) -> None:
    lines = await _lines(client, faulty.url)
    assert lines[-2:] == ["data: [DONE]", ""]


async def test_nothing_before_the_first_byte_is_a_stall(
    client: UpstreamClient, faulty: FaultyUpstream
) -> None:
    faulty.set("stall_before_headers")
    with pytest.raises(UpstreamStalledError, match=r"no byte of the answer within 0\.3 s") as info:
        await _lines(client, faulty.url)
    assert info.value.upstream == faulty.url
    with pytest.raises(UpstreamStalledError):
        await client.post(faulty.url + "/v1/chat/completions", JSON_BODY, HEADERS, upstream="u")


async def test_silence_mid_stream_is_a_timeout_not_a_stall(
    client: UpstreamClient, faulty: FaultyUpstream
) -> None:
    faulty.set("stall_mid_stream")
    with pytest.raises(UpstreamTimeoutError) as info:
        await _lines(client, faulty.url)
    assert not isinstance(info.value, UpstreamStalledError)
    with pytest.raises(UpstreamTimeoutError) as info:
        await client.post(faulty.url + "/v1/chat/completions", JSON_BODY, HEADERS, upstream="u")
    assert not isinstance(info.value, UpstreamStalledError)


async def test_a_line_longer_than_the_limit_is_a_protocol_error(
    client: UpstreamClient, faulty: FaultyUpstream
) -> None:
    faulty.set("oversized_line")
    with pytest.raises(UpstreamProtocolError, match="LineTooLong"):
        await _lines(client, faulty.url)


@pytest.mark.parametrize("toxic", ["reset", "reset_mid_stream"])
async def test_a_reset_is_a_protocol_error(
    client: UpstreamClient, faulty: FaultyUpstream, toxic: str
) -> None:
    faulty.set(toxic)
    with pytest.raises(UpstreamProtocolError):
        await client.post(faulty.url + "/v1/chat/completions", JSON_BODY, HEADERS, upstream="u")
