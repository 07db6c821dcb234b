"""A fault-injecting OpenAI-compatible upstream: raw asyncio sockets on loopback, so a
test controls every byte of the answer and when it is sent.

Without a toxic it answers like llama-server (chat and text completions, JSON and SSE
streams, /infill, /v1/embeddings, /health). With one, every request but /health gets
the fault: a 5xx, a reset, a stall before the headers or mid-stream, headers or a body
trickled a few bytes at a time, half an answer then a clean FIN, HTML or truncated JSON
with a 200, the wrong content type, the wrong JSON shape, malformed or multi-line SSE,
a line longer than any sane buffer, or a 50 MB answer. `times` limits a toxic to the
first requests (a best-of-k run with one bad candidate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

CONTENT = "```python\ndef add(a, b):\n    return a + b\n```"
TRICKLE_S = 0.002  # between two pieces of a trickled body
TRICKLE_HEADER_S = 0.05  # between two bytes of trickled headers
HUGE_BYTES = 50 * 1024 * 1024
OVERSIZED_LINE_BYTES = 2 * 1024 * 1024
STALL_S = 30.0  # a stall lasts until the gateway hangs up, or this long
PLACEHOLDER = "@@huge@@"

TOXICS = (
    "status_500",
    "reset",
    "reset_mid_stream",
    "stall_before_headers",
    "stall_mid_stream",
    "trickle_headers",
    "trickle_body",
    "half_then_fin",
    "not_json",
    "truncated_json",
    "wrong_content_type",
    "wrong_shape",
    "malformed_sse",
    "multiline_sse",
    "oversized_line",
    "huge_answer",
)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class Answer:
    """A good answer, before any toxic: a JSON body or a list of SSE events."""

    content_type: str
    body: bytes = b""
    events: list[bytes] = field(default_factory=list)

    @property
    def is_stream(self) -> bool:
        return self.content_type == "text/event-stream"

    def stream_bytes(self) -> bytes:
        return b"".join(self.events)


class FaultyUpstream:
    def __init__(self) -> None:
        self.toxic: str | None = None
        self.times: int | None = None  # None: every request
        self.received: list[Request] = []
        self.open_connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, toxic: str | None, times: int | None = None) -> None:
        self.toxic, self.times = toxic, times

    # --- lifecycle ------------------------------------------------------
    def start(self) -> FaultyUpstream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the faulty upstream did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    # --- one connection -------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                keep = await self._answer(request, reader, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.open_connections -= 1
            writer.transport.abort()

    async def _answer(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if request.path == "/health":
            await _send(writer, _head(200, "application/json", 15) + b'{"status":"ok"}')
            return True
        self.received.append(request)
        toxic = self._take_toxic()
        answer = good_answer(request)
        if toxic is None:
            await _send_good(writer, answer)
            return True
        await Faults(reader, writer, answer).apply(toxic)
        if not toxic.startswith("reset"):
            await _flushed(writer)  # abort() below discards what is still buffered
        return False

    def _take_toxic(self) -> str | None:
        if self.toxic is None:
            return None
        if self.times is not None:
            if self.times <= 0:
                return None
            self.times -= 1
        return self.toxic


class Faults:
    """The toxics, applied to one good answer."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Answer
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.answer = answer

    async def apply(self, toxic: str) -> None:
        await getattr(self, toxic)()

    def _full(self) -> bytes:
        """The whole good answer, close-delimited."""
        answer = self.answer
        if answer.is_stream:
            return _head(200, answer.content_type) + answer.stream_bytes()
        return _head(200, answer.content_type, len(answer.body)) + answer.body

    def _half(self) -> bytes:
        answer = self.answer
        if answer.is_stream:
            events = answer.events[: max(1, len(answer.events) // 2)]
            return _head(200, answer.content_type) + b"".join(events)
        body = answer.body[: len(answer.body) // 2]
        return _head(200, answer.content_type, len(answer.body)) + body

    async def _stall(self) -> None:
        """Hold the connection open until the gateway hangs up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STALL_S):
                while await self.reader.read(1024):
                    pass

    async def _reply(self, status: int, content_type: str, body: bytes) -> None:
        await _send(self.writer, _head(status, content_type, len(body)) + body)

    async def status_500(self) -> None:
        error = {"error": {"code": 500, "message": "injected failure", "type": "server_error"}}
        await self._reply(500, "application/json", json.dumps(error).encode())

    async def reset(self) -> None:
        _reset(self.writer)

    async def reset_mid_stream(self) -> None:
        await _send(self.writer, self._half())
        await asyncio.sleep(0.05)
        _reset(self.writer)

    async def stall_before_headers(self) -> None:
        await self._stall()

    async def stall_mid_stream(self) -> None:
        await _send(self.writer, self._half())
        await self._stall()

    async def trickle_headers(self) -> None:
        head = _head(200, self.answer.content_type, None if self.answer.is_stream else 0)
        for i in range(len(head)):
            await _send(self.writer, head[i : i + 1])
            await asyncio.sleep(TRICKLE_HEADER_S)

    async def trickle_body(self) -> None:
        data = self._full()
        step = 16
        for start in range(0, len(data), step):
            await _send(self.writer, data[start : start + step])
            await asyncio.sleep(TRICKLE_S)

    async def half_then_fin(self) -> None:
        await _send(self.writer, self._half())
        self.writer.close()

    async def not_json(self) -> None:
        html = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
        await self._reply(200, "text/html", html)

    async def truncated_json(self) -> None:
        if self.answer.is_stream:
            cut = self.answer.events[1][: len(self.answer.events[1]) // 2].rstrip(b"\n")
            events = [self.answer.events[0], cut + b"\n\n", *self.answer.events[2:]]
            await _send(self.writer, _head(200, "text/event-stream") + b"".join(events))
            return
        body = self.answer.body[: len(self.answer.body) // 2]
        await self._reply(200, "application/json", body)

    async def wrong_content_type(self) -> None:
        if self.answer.is_stream:  # a JSON answer to a stream request
            body = json.dumps({"content": CONTENT, "object": "chat.completion"}).encode()
            await self._reply(200, "application/json", body)
            return
        await self._reply(200, "text/plain", self.answer.body)

    async def wrong_shape(self) -> None:
        if self.answer.is_stream:
            events = [b'data: {"object": "thing", "value": 1}\n\n'] * 3 + [b"data: [DONE]\n\n"]
            await _send(self.writer, _head(200, "text/event-stream") + b"".join(events))
            return
        await self._reply(200, "application/json", b'{"object": "thing", "choices": 3}')

    async def malformed_sse(self) -> None:
        if not self.answer.is_stream:
            await _send(self.writer, self._full())
            return
        events = [self.answer.events[0], b"data: this is not json\n\n", *self.answer.events[1:]]
        await _send(self.writer, _head(200, "text/event-stream") + b"".join(events))

    async def multiline_sse(self) -> None:
        """Valid SSE that a line-by-line relay breaks: multi-line data, CRLF, comments,
        `event:` and `id:` fields."""
        if not self.answer.is_stream:
            await _send(self.writer, self._full())
            return
        out = [b": a comment\r\n\r\n"]
        for event in self.answer.events:
            payload = event.removeprefix(b"data: ").rstrip(b"\n")
            if payload.startswith(b"{"):
                pretty = json.dumps(json.loads(payload), indent=1).encode()
                lines = b"".join(b"data: " + line + b"\r\n" for line in pretty.split(b"\n"))
                out.append(b"id: 1\r\nevent: message\r\n" + lines + b"\r\n")
            else:
                out.append(event)
        await _send(self.writer, _head(200, "text/event-stream") + b"".join(out))

    async def oversized_line(self) -> None:
        if not self.answer.is_stream:
            await _send(self.writer, self._full())
            return
        big = json.dumps(
            {"choices": [{"index": 0, "delta": {"content": "x" * OVERSIZED_LINE_BYTES}}]}
        )
        events = [self.answer.events[0], f"data: {big}\n\n".encode(), *self.answer.events[1:]]
        await _send(self.writer, _head(200, "text/event-stream") + b"".join(events))

    async def huge_answer(self) -> None:
        answer = self.answer
        if not answer.is_stream:
            data = json.loads(answer.body)
            _set_text(data, PLACEHOLDER)
            body = json.dumps(data).encode()
            # The head goes out at once and the 50 MB follow in pieces, as a real server
            # sends them: built whole first, they take long enough on a loaded machine
            # to look like a stall before the first byte.
            if b"[0.5]" in body:  # embeddings: a vector of 50 MB, of long numbers
                number = b"0.12345678901234567,"
                prefix, suffix = body.split(b"[0.5]", 1)
                pieces = [b"[", *_repeated(number, HUGE_BYTES // len(number)), b"0.5]"]
            else:
                prefix, suffix = body.split(PLACEHOLDER.encode(), 1)
                pieces = list(_repeated(b"x", HUGE_BYTES))
            length = len(prefix) + sum(map(len, pieces)) + len(suffix)
            await _send(self.writer, _head(200, answer.content_type, length) + prefix)
            for part in pieces:
                await _send(self.writer, part)
            await _send(self.writer, suffix)
            return
        event_text = 64 * 1024
        template = json.loads(answer.events[1].removeprefix(b"data: "))
        _set_text(template, "y" * event_text)
        event = b"data: " + json.dumps(template).encode() + b"\n\n"
        await _send(self.writer, _head(200, "text/event-stream"))
        for _ in range(HUGE_BYTES // event_text):
            await _send(self.writer, event)
        await _send(self.writer, b"".join(answer.events[1:]))


def _set_text(data: dict[str, Any], text: str) -> None:
    if "choices" not in data:
        if "data" in data:  # embeddings: a placeholder for the huge vector
            data["data"][0]["embedding"] = [0.5]
        else:
            data["content"] = text  # /infill
        return
    choice = data["choices"][0]
    if "message" in choice:
        choice["message"]["content"] = text
    elif "delta" in choice:
        choice["delta"]["content"] = text
    else:
        choice["text"] = text


# --- good answers ---------------------------------------------------------


def good_answer(request: Request) -> Answer:
    body = request.body
    if request.path == "/v1/embeddings":
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        data = {
            "object": "list",
            "model": body.get("model"),
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                for i in range(count)
            ],
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }
        return _json(data)
    if request.path == "/infill":
        return _infill(request.stream)
    chat = request.path == "/v1/chat/completions"
    if not request.stream:
        return _json(_completion(chat, body.get("model")))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return _sse(_chunks(chat, body.get("model"), include_usage))


def _completion(chat: bool, model: Any) -> dict[str, Any]:
    usage = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
    if chat:
        message = {"role": "assistant", "content": CONTENT}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop"}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": CONTENT, "finish_reason": "stop", "logprobs": None}
        obj = "text_completion"
    return {
        "id": "x-1",
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def _pieces() -> Iterator[str]:
    step = max(1, len(CONTENT) // 4)
    for start in range(0, len(CONTENT), step):
        yield CONTENT[start : start + step]


def _chunks(chat: bool, model: Any, include_usage: bool) -> list[dict[str, Any]]:
    base = {"id": "x-s", "created": int(time.time()), "model": model}
    obj = "chat.completion.chunk" if chat else "text_completion"

    def chunk(text: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            if role:
                delta["role"] = "assistant"
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": finish}
        return {**base, "object": obj, "choices": [choice]}

    out = [chunk("", role=True)] + [chunk(p) for p in _pieces()] + [chunk(None, "stop")]
    if include_usage:
        usage = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}
        out.append({**base, "object": obj, "choices": [], "usage": usage})
    return out


def _infill(stream: bool) -> Answer:
    final = {
        "content": "",
        "stop": True,
        "stop_type": "eos",
        "tokens_predicted": 9,
        "tokens_evaluated": 7,
    }
    if not stream:
        return _json({**final, "content": CONTENT})
    events = [{"content": p, "stop": False} for p in _pieces()] + [final]
    return _sse(events, done=False)


def _json(data: dict[str, Any]) -> Answer:
    return Answer("application/json", body=json.dumps(data).encode())


def _sse(chunks: list[dict[str, Any]], *, done: bool = True) -> Answer:
    events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
    if done:
        events.append(b"data: [DONE]\n\n")
    return Answer("text/event-stream", events=events)


# --- HTTP/1.1 by hand -----------------------------------------------------


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    reason = {200: "OK", 500: "Internal Server Error"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", "Server: faulty"]
    if length is None:
        lines.append("Connection: close")  # the body ends at EOF
    else:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send_good(writer: asyncio.StreamWriter, answer: Answer) -> None:
    if not answer.is_stream:
        await _send(writer, _head(200, answer.content_type, len(answer.body)) + answer.body)
        return
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\nServer: faulty\r\n\r\n"
    )
    await _send(writer, head)
    for event in answer.events:
        await _send(writer, b"%x\r\n%s\r\n" % (len(event), event))
    await _send(writer, b"0\r\n\r\n")


async def _flushed(writer: asyncio.StreamWriter, limit_s: float = 30.0) -> None:
    """Wait until the kernel has taken every byte written (drain() stops at the
    transport's high-water mark), or the peer has gone."""
    deadline = asyncio.get_running_loop().time() + limit_s
    transport = writer.transport
    while transport.get_write_buffer_size() and not transport.is_closing():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.01)


def _repeated(unit: bytes, count: int, piece_bytes: int = 1 << 20) -> Iterator[bytes]:
    """`unit * count`, in pieces of about `piece_bytes`."""
    per_piece = max(1, piece_bytes // len(unit))
    for start in range(0, count, per_piece):
        yield unit * min(per_piece, count - start)


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    body = json.loads(raw) if raw else {}
    return Request(method, path, headers, body)
