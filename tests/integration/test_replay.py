"""The replay engine behind the gateway, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import RunningGateway, make_settings

RECORDS = [
    {
        "id": "p1",
        "messages": [{"role": "user", "content": "Write  add(a, b).\n"}],
        "samples": ["def add(a, b): return a + b", "def add(a, b): return a - b"],
        "test_samples": ["assert add(1, 2) == 3"],
        "hidden_tests": "assert add(2, 2) == 4",
    },
    {
        "id": "p2",
        "messages": [{"role": "user", "content": "Write neg(x)."}],
        "samples": ["def neg(x): return -x"],
    },
]


@pytest.fixture
def replay_gateway(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> RunningGateway:
    dataset = tmp_path / "replay.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    return gateway_factory(
        make_settings([{"name": "replay", "engine": "replay", "dataset": str(dataset)}])
    )


def test_samples_are_picked_by_seed(replay_gateway: RunningGateway) -> None:
    sdk = openai.OpenAI(base_url=replay_gateway.base_url, api_key="x", max_retries=0)
    ask = [{"role": "user", "content": "Write add(a, b)."}]  # whitespace differs: still a match
    first = sdk.chat.completions.create(model="replay", messages=ask, seed=0)  # type: ignore[arg-type]
    second = sdk.chat.completions.create(model="replay", messages=ask, seed=3)  # type: ignore[arg-type]
    assert first.choices[0].message.content == "def add(a, b): return a + b"
    assert second.choices[0].message.content == "def add(a, b): return a - b"
    assert first.usage is not None and first.usage.completion_tokens > 0
    chunks = list(
        sdk.chat.completions.create(
            model="replay",
            messages=ask,
            seed=1,  # type: ignore[arg-type]
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "def add(a, b): return a - b"
    )


def test_test_samples_and_misses(replay_gateway: RunningGateway) -> None:
    # The purpose header is set by the gateway's own internal requests, so ask the
    # replay server directly; misses are checked through the gateway.
    direct = replay_gateway.services.replays["replay"].url + "/v1/chat/completions"
    url = replay_gateway.url + "/v1/chat/completions"
    tests = httpx.post(
        direct,
        headers={"x-atlas-purpose": "tests"},
        json={"model": "replay", "messages": [{"role": "user", "content": "Write add(a, b)."}]},
    )
    assert tests.json()["choices"][0]["message"]["content"] == "assert add(1, 2) == 3"
    no_tests = httpx.post(
        direct,
        headers={"x-atlas-purpose": "tests"},
        json={"model": "replay", "messages": [{"role": "user", "content": "Write neg(x)."}]},
    )
    assert no_tests.status_code == 404
    assert "no samples" in no_tests.json()["error"]["message"]
    miss = httpx.post(
        url, json={"model": "replay", "messages": [{"role": "user", "content": "unknown"}]}
    )
    assert miss.status_code == 404
    assert miss.json()["error"]["message"] == "no replay record matches the last user message"
