"""The replicas benchmark's balancer: round robin per request on one client connection,
Content-Length and chunked answers passed on whole."""

from __future__ import annotations

import asyncio

import pytest

from bench.balancer import Balancer, read_message

pytestmark = [pytest.mark.timeout(10)]


async def _backend(name: str, chunked: bool) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_message(reader)) is not None:
            body = name.encode() + b":" + request.rsplit(b"\r\n\r\n", 1)[1]
            if chunked:
                head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                writer.write(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_requests_alternate_between_backends_on_one_connection() -> None:
    (a, a_port), (b, b_port) = await _backend("a", False), await _backend("b", True)
    front = await asyncio.start_server(
        Balancer([("127.0.0.1", a_port), ("127.0.0.1", b_port)]).serve, "127.0.0.1", 0
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
    bodies = []
    for n in range(4):
        writer.write(b"POST / HTTP/1.1\r\ncontent-length: 1\r\n\r\n%d" % n)
        answer = await read_message(reader)
        assert answer is not None and answer.startswith(b"HTTP/1.1 200")
        bodies.append(answer.split(b"\r\n\r\n", 1)[1])
    assert bodies[0] == b"a:0" and bodies[2] == b"a:2"
    assert bodies[1] == b"3\r\nb:1\r\n0\r\n\r\n" and bodies[3].startswith(b"3\r\nb:3")
    writer.close()
    for server in (front, a, b):
        server.close()
        await server.wait_closed()
