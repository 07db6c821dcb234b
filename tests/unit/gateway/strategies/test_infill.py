from __future__ import annotations

import json

import msgspec
import pytest

from gateway.strategies.infill import InfillTranslator, infill_body


def test_request_fields_are_renamed_and_extensions_kept() -> None:
    raw = json.dumps(
        {
            "model": "m",
            "prompt": "a",
            "suffix": "b",
            "max_tokens": 5,
            "temperature": 0.2,
            "top_k": 3,
        }
    ).encode()
    assert json.loads(infill_body(raw)) == {
        "input_prefix": "a",
        "input_suffix": "b",
        "n_predict": 5,
        "temperature": 0.2,
        "top_k": 3,
    }


def test_answer_becomes_a_text_completion() -> None:
    translator = InfillTranslator("m", "rid")
    answer = json.loads(
        translator.completion(
            json.dumps(
                {
                    "content": "x",
                    "stop": True,
                    "stop_type": "limit",
                    "tokens_predicted": 2,
                    "tokens_evaluated": 3,
                }
            ).encode()
        )
    )
    assert answer["object"] == "text_completion"
    assert answer["choices"][0] == {
        "index": 0,
        "text": "x",
        "logprobs": None,
        "finish_reason": "length",
    }
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    chunk = translator.chunk(json.dumps({"content": "y", "stop": False}))
    assert chunk is not None
    assert json.loads(chunk)["choices"][0]["finish_reason"] is None


@pytest.mark.parametrize(
    "body", [b"<html>", b'{"content": "cut', b'{"object": "thing"}', b'{"content": 3}', b"[]"]
)
def test_an_answer_that_is_not_infill_raises(body: bytes) -> None:
    translator = InfillTranslator("m", "rid")
    with pytest.raises(msgspec.DecodeError):
        translator.completion(body)
    with pytest.raises(msgspec.DecodeError):
        translator.chunk(body.decode())
