"""What may be cached, its key, and the near-match sketch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgspec

from config import ModelSettings
from config.strategy import best_of_k_settings
from engines import UpstreamPool
from gateway.strategies.base import Call, Controls
from gateway.strategies.model import ModelGroup
from gateway.strategies.router.patterns import (
    cacheable,
    request_key,
    retention,
    scope_of,
    similarity,
    sketch,
)


@dataclass(frozen=True)
class Msg:
    role: str
    content: str


GROUP = ModelGroup(
    ModelSettings(name="coder", upstreams=("http://127.0.0.1:9",)),
    UpstreamPool("coder", []),
    UpstreamPool("coder", []),
    best_of_k_settings(ModelSettings(name="x", upstreams=("http://127.0.0.1:9",)).strategy),
)


def call(messages: list[Msg], tests: list[str] | None = None, **body: Any) -> Call:
    full = {"model": "coder", "messages": [m.__dict__ for m in messages], **body}
    return Call(
        endpoint="chat",
        model=GROUP,
        body=msgspec.json.encode(full),
        request_id="r",
        requested_model="coder",
        prompt_text="",
        messages=messages,
        controls=Controls(tests=tests),
    )


def key(c: Call) -> str:
    return request_key(c, msgspec.json.decode(c.body))


def test_one_user_turn_is_cacheable_and_agent_turns_are_not() -> None:
    assert cacheable(call([Msg("system", "be brief"), Msg("user", "add")]))
    assert not cacheable(call([Msg("user", "add"), Msg("assistant", "x"), Msg("user", "more")]))
    assert not cacheable(call([Msg("user", "add"), Msg("tool", "{}")]))


def test_the_key_ignores_sampling_but_not_what_changes_the_answer() -> None:
    ask = [Msg("user", "def add(a, b):  \n")]
    base = key(call(ask))
    assert key(call(ask, temperature=0.9, seed=4, top_p=0.5, stream=True)) == base
    assert key(call([Msg("user", "def add(a, b):")])) == base  # trailing whitespace
    assert key(call(ask, max_tokens=5)) != base
    assert key(call(ask, tests=["assert add(1, 2) == 3"])) != base
    assert key(call([Msg("system", "in Rust"), *ask])) != base


def test_scopes() -> None:
    assert scope_of("u1", ()) == "t:u1"
    assert scope_of("u1", ("u1", "u2")) == scope_of("u2", ("u1", "u2")) == "shared"


def test_similarity_estimates_jaccard() -> None:
    a = sketch("write a function that adds two numbers")
    assert similarity(a, a) == 1.0
    assert similarity(a, sketch("write a function that adds three numbers")) > 0.5
    assert similarity(a, sketch("unrelated prose here")) == 0.0
    assert similarity(a, b"") == 0.0


def test_sketches_are_bounded_and_fast() -> None:
    started = time.perf_counter()
    big = sketch(" ".join(f"w{i}" for i in range(200_000)))
    assert len(big) == 64 * 4
    assert time.perf_counter() - started < 0.5


def test_retention() -> None:
    assert retention(0, 10) == 1.0
    assert retention(-5, 10) == 1.0
    assert abs(retention(10, 10) - 0.3679) < 1e-4
