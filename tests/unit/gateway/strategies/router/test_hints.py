"""The strategy hints' text and the call the candidates get (pure functions)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from config import BestOfKSettings, ModelSettings
from engines import UpstreamPool
from gateway.strategies.base import Call
from gateway.strategies.model import ModelGroup
from gateway.strategies.router.hints import (
    HINTS_INTRO,
    NO_HINTS,
    Hints,
    format_hints,
    hinted_call,
    with_system_text,
)
from gateway.strategies.router.patterns import CacheEntry


def entry(problem: str, code: str, language: str = "python") -> CacheEntry:
    return CacheEntry(completion={}, code=code, language=language, problem=problem)


ADD = entry("Add two\n  numbers.", "def add(a, b):\n    return a + b\n")
SUB = entry("Subtract b from a.", "def sub(a, b):\n    return a - b\n")


def test_hints_are_numbered_in_order_after_the_intro() -> None:
    hints = format_hints([ADD, SUB], budget_tokens=300)
    assert hints.count == 2
    assert hints.text == (
        f"{HINTS_INTRO}\n\n"
        "1. Problem: Add two numbers.\nSolution:\n```python\ndef add(a, b):\n    return a + b\n```"
        "\n\n"
        "2. Problem: Subtract b from a.\nSolution:\n"
        "```python\ndef sub(a, b):\n    return a - b\n```"
    )
    assert format_hints([ADD, SUB], 300) == hints  # deterministic


def test_nothing_to_hint_is_no_text() -> None:
    assert format_hints([], 300) == NO_HINTS


@pytest.mark.parametrize("budget", [60, 100, 300, 1000])
def test_a_long_solution_is_cut_to_the_budget(budget: int) -> None:
    huge = entry("Long.", "def f():\n" + "    x = 1\n" * 5000)
    hints = format_hints([huge, ADD], budget)
    assert hints.count == 1  # the first fills the budget; the second does not fit
    assert len(hints.text) <= budget * 4
    assert hints.text.endswith("# ... (truncated)\n```")


def test_a_hint_that_would_get_almost_no_code_is_left_out() -> None:
    first = entry("One.", "x" * 1000)
    hints = format_hints([ADD, first], budget_tokens=70)
    assert hints.count == 1 and "def add" in hints.text


def test_an_old_entry_without_a_problem_says_so() -> None:
    assert "Problem: (not recorded)" in format_hints([entry("", "x = 1")], 300).text


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [{"role": "user", "content": "q"}],
            [{"role": "system", "content": "H"}, {"role": "user", "content": "q"}],
        ),
        (
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}],
            [{"role": "system", "content": "Be brief.\n\nH"}, {"role": "user", "content": "q"}],
        ),
        (
            [{"role": "developer", "content": [{"type": "text", "text": "d"}]}],
            [
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "d"}, {"type": "text", "text": "H"}],
                }
            ],
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "system", "content": "late"}],
            [
                {"role": "system", "content": "H"},
                {"role": "user", "content": "q"},
                {"role": "system", "content": "late"},
            ],
        ),
    ],
)
def test_the_hints_join_the_first_system_message_or_open_one(
    messages: list[Any], expected: list[Any]
) -> None:
    assert with_system_text(messages, "H") == expected


def test_the_hinted_call_changes_only_the_body_sent_upstream() -> None:
    messages = [{"role": "user", "content": "def add(a, b): ..."}]
    call = Call(
        endpoint="chat",
        model=ModelGroup(
            ModelSettings(name="m", upstreams=("http://127.0.0.1:9",)),
            UpstreamPool("m", []),
            UpstreamPool("m", []),
            BestOfKSettings(),
        ),
        body=msgspec.json.encode({"model": "m", "messages": messages, "max_tokens": 9}),
        request_id="r",
        requested_model="m",
        prompt_text="def add(a, b): ...",
        messages=(),
    )
    assert hinted_call(call, NO_HINTS) is call
    hinted = hinted_call(call, Hints("H", 1))
    body = msgspec.json.decode(hinted.body)
    assert body["messages"] == [{"role": "system", "content": "H"}, *messages]
    assert body["max_tokens"] == 9
    assert hinted.messages == call.messages and hinted.prompt_text == call.prompt_text
