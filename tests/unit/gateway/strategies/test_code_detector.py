"""The code-request detector on the labelled requests of tests/data/code_requests.json:
code asks go to best-of-k; clients' background tasks and plain chat do not."""

from __future__ import annotations

import time

import pytest

from bench.code_detector import Msg, before, load, messages_of, now, score
from gateway.strategies.choose import (
    _CODE_ASK,
    CODE_SCAN_CHARS,
    _any_literal,
    looks_like_code_call,
)

ITEMS = load()
TUNED = [i for i in ITEMS if i["split"] in ("tune", "holdout")]


def test_the_set_is_large_and_mixed() -> None:
    assert len(ITEMS) >= 40
    assert {i["label"] for i in ITEMS} == {"code", "background", "chat"}
    assert len({i["client"] for i in ITEMS if i["label"] == "background"}) >= 3


def test_accuracy_floor() -> None:
    every = score(ITEMS, now)
    assert every.accuracy >= 0.90 and every.precision >= 0.90 and every.recall >= 0.90, every
    held_out = score([i for i in ITEMS if i["split"] == "holdout"], now)
    assert held_out.accuracy >= 0.90, held_out
    captured = score([i for i in ITEMS if i["split"] == "captured"], now)
    assert captured.accuracy >= 0.90, captured  # real clients' requests, never tuned on
    assert score(ITEMS, before).accuracy < every.accuracy  # what the change bought


@pytest.mark.parametrize("item", TUNED, ids=[i["id"] for i in TUNED])
def test_each_labelled_request(item: dict[str, object]) -> None:
    assert now(messages_of(item)) == (item["label"] == "code")  # type: ignore[arg-type]


def test_pasted_material_does_not_make_a_code_ask_a_task() -> None:
    ask = [Msg("user", "Write a function that builds a commit message from a diff.")]
    assert looks_like_code_call(ask)
    fenced = [Msg("system", "You are a helpful assistant."), Msg("user", "```\ntitle\n```")]
    assert looks_like_code_call(fenced)


@pytest.mark.parametrize(
    "text",
    ["wRite " * 1_300_000, "give me " * 500_000, "### task: " * 400_000, "x" * 8_000_000],
)
def test_hostile_text_is_read_fast(text: str) -> None:
    messages = [Msg("system", text), Msg("user", text)]
    started = time.perf_counter()
    looks_like_code_call(messages)
    assert time.perf_counter() - started < 0.2
    assert len(text) > 2 * CODE_SCAN_CHARS  # the caps are what keeps it fast


# One text per alternative of _CODE_ASK, strong and weak.
EVERY_ALTERNATIVE = (
    "```", "def f(x)", "class A:", "class B(", "write a parser", "implement the method",
    "create an endpoint", "build me a script", "give me tests", "fix this bug",
    "fix my function", "refactor", "python", "javascript", "typescript", "java", "rust",
    "golang", "sql", "function", "code", "returns", "return", "implement", "algorithm",
    "regex", "class", "c++",
)  # fmt: skip


def test_every_match_of_the_ask_holds_a_literal_the_prefilter_looks_for() -> None:
    # The prefilter may skip the regex only because of this: a text without any of the
    # literals has no match, so the prefilter never changes a decision.
    texts = [*EVERY_ALTERNATIVE, *(m.content for i in ITEMS for m in messages_of(i))]
    matched = 0
    for text in texts:
        for match in _CODE_ASK.finditer(str(text).lower()):
            matched += 1
            assert _any_literal(match.group()), match.group()
    assert matched >= len(EVERY_ALTERNATIVE)


def test_prose_without_any_literal_is_no_code_call() -> None:
    prose = "Which cities should I visit in Portugal in spring, and for how long? " * 10
    assert not _any_literal(prose.lower())
    assert not looks_like_code_call([Msg("user", prose)])
