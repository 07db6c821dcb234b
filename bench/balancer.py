"""A tiny loopback HTTP/1.1 load balancer for the replicas benchmark: round robin per
request (not per connection, so one keep-alive client alternates between replicas),
over one keep-alive connection per client connection and backend, in asyncio streams.

It understands only what the benchmark sends and ATLAS answers: messages with a
Content-Length or a chunked body (passed on as they are; no trailers, no upgrades).
Anything else closes the client's connection.

    python -m bench.balancer --port 8080 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import Iterator, Sequence

HEAD_LIMIT = 64 * 1024

Backend = tuple[str, int]
Link = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class MalformedError(Exception):
    """A message the balancer does not handle (cut, a head too long)."""


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """One request or answer, head and body; None at a clean end of the stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise MalformedError("cut in its head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise MalformedError("head too long") from exc
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        return head + await _chunks(reader)
    body = await reader.readexactly(length) if length else b""
    return head + body


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        parts.append(size_line)
        parts.append(await reader.readexactly(size + 2))  # the data and its CRLF
        if size == 0:
            return b"".join(parts)


class Balancer:
    def __init__(self, backends: Sequence[Backend]) -> None:
        if not backends:
            raise ValueError("at least one backend")
        self._backends = list(backends)
        self._turn: Iterator[int] = itertools.cycle(range(len(self._backends)))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        links: dict[int, Link] = {}
        try:
            while (request := await read_message(reader)) is not None:
                index = next(self._turn)
                link = links.get(index)
                if link is None:
                    host, port = self._backends[index]
                    link = links[index] = await asyncio.open_connection(
                        host, port, limit=HEAD_LIMIT
                    )
                link[1].write(request)
                answer = await read_message(link[0])
                if answer is None:
                    raise MalformedError("the backend closed the connection")
                writer.write(answer)
                await writer.drain()
        except (MalformedError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for _, backend_writer in links.values():
                backend_writer.close()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def backend(text: str) -> Backend:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _main(port: int, backends: list[Backend]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.serve, "127.0.0.1", port, limit=HEAD_LIMIT)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", type=backend, action="append", required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_main(args.port, args.backend))
    else:
        uvloop.run(_main(args.port, args.backend))


if __name__ == "__main__":
    main()
