"""A scripted OpenAI-compatible upstream (a test double of llama-server) on loopback.

It is a real HTTP server: tests script how it answers (delay, fail, stream,
drop the connection) and read back what it received and whether the client
went away before the answer was complete.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

Scope = dict[str, Any]


@dataclass
class Script:
    content: str = "Hello from the scripted upstream."
    status: int = 200
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the response starts
    chunk_delay_s: float = 0.0
    drop_after_chunks: int | None = None  # close the connection mid-stream
    report_usage: bool = True
    health_status: int = 200
    tool_calls: list[dict[str, Any]] | None = None
    # Per-request content, e.g. lambda body: f"seed {body['seed']}"
    content_for: Any = None
    # Answer to requests marked `x-atlas-purpose: tests` (None: answer as any other).
    tests_content: str | None = None
    # Per-request delay before answering, e.g. lambda body: 5 if body["seed"] else 0
    delay_for: Any = None
    # Embedding width; vectors are derived from a hash of the input, so equal texts match.
    embedding_dim: int = 3
    # Generation time per token of the answer (its words), like a real engine's decode:
    # a JSON answer comes after all of them, a stream's chunks one token apart.
    token_delay_s: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedUpstream:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.received: list[Received] = []
        self.disconnects = 0
        self.completed = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    # --- ASGI app -------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/health":
            await _send_json(send, self.script.health_status, {"status": "ok"})
            return
        data = json.loads(body) if body else {}
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(path, headers, data))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self._answer_or_tests(path, headers, data, receive, send)
        finally:
            self.in_flight -= 1

    async def _answer_or_tests(
        self, path: str, headers: dict[str, str], data: dict[str, Any], receive: Any, send: Any
    ) -> None:
        if headers.get("x-atlas-purpose") == "tests" and self.script.tests_content is not None:
            text = self.script.tests_content
            if await self._decoding(text, stream=False, receive=receive):
                return
            await _send_json(send, 200, self._chat_answer(data, text))
            return
        await self._answer(path, data, receive, send)

    async def _decoding(self, text: str, *, stream: bool, receive: Any) -> bool:
        """Wait as long as decoding `text` takes (not for a stream: its chunks wait);
        True if the client left meanwhile."""
        if not self.script.token_delay_s or stream:
            return False
        if await _client_left_during(receive, self.script.token_delay_s * len(text.split())):
            self.disconnects += 1
            return True
        return False

    async def _answer(self, path: str, data: dict[str, Any], receive: Any, send: Any) -> None:
        script = self.script
        delay = script.delay_for(data) if script.delay_for is not None else script.delay_s
        if delay and await _client_left_during(receive, delay):
            self.disconnects += 1
            return
        if await self._decoding(self._text(data), stream=bool(data.get("stream")), receive=receive):
            return
        if script.status != 200:
            body = script.error_body or {
                "error": {
                    "code": script.status,
                    "message": "scripted failure",
                    "type": "server_error",
                }
            }
            await _send_json(send, script.status, body, script.headers)
            return
        if data.get("stream"):
            await self._stream(path, data, receive, send)
            return
        await _send_json(send, 200, self._json_answer(path, data))
        self.completed += 1

    def _text(self, data: dict[str, Any]) -> str:
        if self.script.content_for is not None:
            return str(self.script.content_for(data))
        return self.script.content

    def _chat_answer(self, data: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-t",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": data.get("model"),
            "usage": self._usage(text),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
        }

    def _usage(self, text: str) -> dict[str, int]:
        completion = len(text.split())
        return {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion}

    def _json_answer(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        text = self._text(data)
        if path == "/v1/embeddings":
            inputs = data["input"] if isinstance(data["input"], list) else [data["input"]]
            return {
                "object": "list",
                "model": data.get("model"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(len(inputs))
                ],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        if path == "/infill":
            return {
                "content": text,
                "stop": True,
                "stop_type": "eos",
                "tokens_predicted": 4,
                "tokens_evaluated": 9,
            }
        usage = self._usage(text) if self.script.report_usage else None
        if path == "/v1/completions":
            answer = {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": int(time.time()),
                "model": data.get("model"),
                "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
            }
        else:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            finish = "stop"
            if self.script.tool_calls:
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": self.script.tool_calls,
                }
                finish = "tool_calls"
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": data.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
        if usage is not None:
            answer["usage"] = usage
        return answer

    def _chunks(self, path: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        text = self._text(data)
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1].rstrip(" ")
        base = {"id": "chatcmpl-s", "created": int(time.time()), "model": data.get("model")}
        if path == "/infill":
            out: list[dict[str, Any]] = [{"content": w, "stop": False} for w in words]
            out.append(
                {
                    "content": "",
                    "stop": True,
                    "stop_type": "eos",
                    "tokens_predicted": len(words),
                    "tokens_evaluated": 9,
                }
            )
            return out
        if path == "/v1/completions":
            obj = {**base, "object": "text_completion"}
            out = [
                {**obj, "choices": [{"index": 0, "text": w, "finish_reason": None}]} for w in words
            ]
            out.append({**obj, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        else:
            obj = {**base, "object": "chat.completion.chunk"}
            out = [
                {
                    **obj,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            ]
            if self.script.tool_calls:
                for i, call in enumerate(self.script.tool_calls):
                    out.append(
                        {
                            **obj,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"tool_calls": [{**call, "index": i}]},
                                    "finish_reason": None,
                                }
                            ],
                        }
                    )
                finish = "tool_calls"
            else:
                out += [
                    {
                        **obj,
                        "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
                    }
                    for w in words
                ]
                finish = "stop"
            out.append({**obj, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        wants_usage = (data.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.script.report_usage:
            out.append({**obj, "choices": [], "usage": self._usage(text)})
        return out

    async def _stream(self, path: str, data: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for sent, chunk in enumerate(self._chunks(path, data)):
            if self.script.drop_after_chunks is not None and sent >= self.script.drop_after_chunks:
                raise ConnectionAbortedError("scripted drop")  # uvicorn closes the socket
            pause = self.script.chunk_delay_s or self.script.token_delay_s
            if pause and await _client_left_during(receive, pause):
                self.disconnects += 1
                return
            try:
                await send(
                    {
                        "type": "http.response.body",
                        "body": f"data: {json.dumps(chunk)}\n\n".encode(),
                        "more_body": True,
                    }
                )
            except OSError:
                self.disconnects += 1
                return
        if path != "/infill":
            await send(
                {"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
        self.completed += 1

    # --- lifecycle ------------------------------------------------------
    def start(self, port: int = 0, host: str = "127.0.0.1") -> ScriptedUpstream:
        """Listen on `host` (any loopback address: 127.0.0.2 beside 127.0.0.1 on the same
        port is a second "pod" of one DNS name) and `port` (0: a free one)."""
        self.host = host
        config = uvicorn.Config(
            self, host=host, port=port, log_level="critical", lifespan="on", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted upstream did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(timeout=10)


def _vector(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest() * (dim // 32 + 1)
    return [b / 255 for b in digest[:dim]]


async def _send_json(
    send: Any, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _client_left_during(receive: Any, seconds: float) -> bool:
    """Wait `seconds`; True if the client disconnected meanwhile."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return True
    except TimeoutError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description="scripted OpenAI-compatible upstream")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--content", default=Script.content, help="the answer's text")
    parser.add_argument("--delay-s", type=float, default=0.0, help="before each answer")
    parser.add_argument("--chunk-delay-s", type=float, default=0.0, help="between stream chunks")
    parser.add_argument("--token-delay-s", type=float, default=0.0, help="per answer token")
    args = parser.parse_args()
    upstream = ScriptedUpstream(
        Script(
            content=args.content,
            delay_s=args.delay_s,
            chunk_delay_s=args.chunk_delay_s,
            token_delay_s=args.token_delay_s,
        )
    )
    uvicorn.run(
        upstream,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
