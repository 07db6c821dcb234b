"""OpenAI completions with `suffix` <-> llama-server /infill (fill-in-the-middle).

llama-server's /v1/completions ignores `suffix`, so a completion with a suffix
is sent to /infill and its answer is turned back into the OpenAI shape.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

INFILL_PATH = "/infill"
# OpenAI names that /infill spells differently; everything else passes as is.
_RENAMED = {"prompt": "input_prefix", "suffix": "input_suffix", "max_tokens": "n_predict"}
_DROPPED = ("model", "n", "stream_options", "echo", "best_of", "logprobs", "user")


def infill_body(raw: bytes) -> bytes:
    request: dict[str, Any] = msgspec.json.decode(raw)
    body = {_RENAMED.get(k, k): v for k, v in request.items() if k not in _DROPPED}
    return msgspec.json.encode(body)


class InfillAnswer(msgspec.Struct):
    """What the gateway reads of an /infill answer or stream event; decoding into it
    checks that the upstream answered /infill at all."""

    content: str
    stop: bool = False
    stop_type: str | None = None
    tokens_predicted: int | None = None
    tokens_evaluated: int = 0


_answer = msgspec.json.Decoder(InfillAnswer)


def _finish_reason(answer: InfillAnswer) -> str | None:
    if not answer.stop:
        return None
    return "length" if answer.stop_type == "limit" else "stop"


def _usage(answer: InfillAnswer) -> dict[str, int] | None:
    if answer.tokens_predicted is None:
        return None
    prompt, completion = answer.tokens_evaluated, answer.tokens_predicted
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class InfillTranslator:
    """Builds OpenAI text_completion objects from /infill answers of one request.

    An answer that is not an /infill answer raises `msgspec.DecodeError`; the caller,
    which knows the upstream, turns it into a protocol error."""

    def __init__(self, model: str, request_id: str) -> None:
        self._id = f"cmpl-{request_id}"
        self._model = model
        self._created = int(time.time())

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self._id, "object": obj, "created": self._created, "model": self._model}

    def completion(self, content: bytes) -> bytes:
        answer = _answer.decode(content)
        result = self._base("text_completion")
        result["choices"] = [
            {
                "index": 0,
                "text": answer.content,
                "logprobs": None,
                "finish_reason": _finish_reason(answer) or "stop",
            }
        ]
        usage = _usage(answer)
        if usage is not None:
            result["usage"] = usage
        return msgspec.json.encode(result)

    def chunk(self, data: str) -> str:
        answer = _answer.decode(data)
        result = self._base("text_completion")
        result["choices"] = [
            {
                "index": 0,
                "text": answer.content,
                "logprobs": None,
                "finish_reason": _finish_reason(answer),
            }
        ]
        usage = _usage(answer) if answer.stop else None
        if usage is not None:
            result["usage"] = usage
        return msgspec.json.encode(result).decode()
