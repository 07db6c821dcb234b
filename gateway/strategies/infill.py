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


def _finish_reason(answer: dict[str, Any]) -> str | None:
    if not answer.get("stop"):
        return None
    return "length" if answer.get("stop_type") == "limit" else "stop"


def _usage(answer: dict[str, Any]) -> dict[str, int] | None:
    if "tokens_predicted" not in answer:
        return None
    prompt = int(answer.get("tokens_evaluated", 0))
    completion = int(answer["tokens_predicted"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class InfillTranslator:
    """Builds OpenAI text_completion objects from /infill answers of one request."""

    def __init__(self, model: str, request_id: str) -> None:
        self._id = f"cmpl-{request_id}"
        self._model = model
        self._created = int(time.time())

    def _base(self, obj: str) -> dict[str, Any]:
        return {"id": self._id, "object": obj, "created": self._created, "model": self._model}

    def completion(self, content: bytes) -> bytes:
        answer: dict[str, Any] = msgspec.json.decode(content)
        result = self._base("text_completion")
        result["choices"] = [
            {
                "index": 0,
                "text": answer.get("content", ""),
                "logprobs": None,
                "finish_reason": _finish_reason(answer) or "stop",
            }
        ]
        usage = _usage(answer)
        if usage is not None:
            result["usage"] = usage
        return msgspec.json.encode(result)

    def chunk(self, data: str) -> str | None:
        try:
            answer: Any = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return None
        if not isinstance(answer, dict):
            return None
        result = self._base("text_completion")
        result["choices"] = [
            {
                "index": 0,
                "text": answer.get("content", ""),
                "logprobs": None,
                "finish_reason": _finish_reason(answer),
            }
        ]
        usage = _usage(answer) if answer.get("stop") else None
        if usage is not None:
            result["usage"] = usage
        return msgspec.json.encode(result).decode()
