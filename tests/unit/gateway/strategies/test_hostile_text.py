"""The gateway's own reads of prompts and answers on hostile text (issue 15): choosing
the strategy, the entry point, the code of a candidate, the asserts a model wrote. Each
finishes in under 100 ms, raises nothing, and long text is read off the event loop."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.strategies.best_of_k import verification
from gateway.strategies.best_of_k.testgen import (
    MAX_TESTS_ANSWER_CHARS,
    entry_point_of,
    parse_asserts,
)
from gateway.strategies.best_of_k.verification import (
    extract_code,
    extract_code_off_loop,
    parse_asserts_off_loop,
    trusted_tests,
)
from gateway.strategies.choose import CODE_SCAN_CHARS, looks_like_code_request
from sandbox import MAX_PROMPT_CHARS

LIMIT_S = 0.100
DEEP = "-" * 3000 + "1"  # ast.parse raises RecursionError on it


def fastest_of_three(work: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


PROMPTS = [
    "x" * 2000 + "\nf()== x" + " " * 1600 + "!",
    "def f():\n" + "\n" * 60_000,
    " " * (MAX_PROMPT_CHARS - 10) + "x",
    "\n" * (MAX_PROMPT_CHARS - 10),
    "def " * (MAX_PROMPT_CHARS // 4 - 10),
    "assert (\n" * 11_000,
    "f(1) == 1\n" * 9_000,
    f"f(1) == {DEEP}\n" * 30,
    " " * 8_000_000,
    "\n" * 8_000_000,
    "wRite " * 1_300_000,
]
ANSWERS = [
    "`" * 1_000_000,
    "```\n" * 60_000,
    "```python\n" + "assert (\n" * 3_500,
    "assert x\n" * 3_500,
    f"assert {DEEP}\n",
    f"```python\nassert {DEEP}\n```",
    "def f():\n    return " + "(" * 150 + ")" * 150,
    f"def f():\n    return {DEEP}\n",
    "def f():\n" + "    x = 1\n" * 3_200,
    "x" * 50_000_000,
]


@pytest.mark.parametrize("index", range(len(PROMPTS)))
def test_hostile_prompt(index: int) -> None:
    prompt = PROMPTS[index]
    assert fastest_of_three(lambda: entry_point_of(prompt)) < LIMIT_S
    assert fastest_of_three(lambda: trusted_tests(None, prompt, "f")) < LIMIT_S
    assert fastest_of_three(lambda: looks_like_code_request(prompt)) < LIMIT_S


@pytest.mark.parametrize("index", range(len(ANSWERS)))
def test_hostile_answer(index: int) -> None:
    answer = ANSWERS[index]
    assert fastest_of_three(lambda: extract_code(answer, "f")) < LIMIT_S
    assert fastest_of_three(lambda: parse_asserts(answer)) < LIMIT_S


def test_nesting_too_deep_for_the_parser_is_skipped_not_raised() -> None:
    assert parse_asserts(f"assert f(1) == 1\nassert {DEEP}\n") == ["assert f(1) == 1"]
    assert extract_code(f"def f():\n    return {DEEP}\n", "f") is None
    assert trusted_tests(None, f"f(1) == 2\nf({DEEP}) == 1\n", "f").source == "prompt"


def test_caps() -> None:
    assert entry_point_of("def f(x):\n" + " " * MAX_PROMPT_CHARS) is None
    assert parse_asserts("assert f(1) == 1\n" + " " * MAX_TESTS_ANSWER_CHARS) == []
    bare = "def f():\n    return 1\n"
    assert extract_code(bare, "f") is not None
    assert extract_code(bare + " " * verification.MAX_BARE_CODE_CHARS, "f") is None


def test_a_long_prompt_is_read_at_both_ends() -> None:
    filler = "lorem ipsum " * (CODE_SCAN_CHARS // 4)
    assert looks_like_code_request("Write a function. " + filler)
    assert looks_like_code_request(filler + " in Python")
    assert not looks_like_code_request(filler[:CODE_SCAN_CHARS] + " python " + filler)


OLD_CODE_REQUEST = re.compile(
    r"```|\bdef \w+\(|\bfunction\b|\bclass \w+|\bimplement|\bwrite (a|an|the)? ?(python|"
    r"program|function|script|code)|\bcode\b|\bpython\b|\bjavascript\b|\bc\+\+|\breturns?\b",
    re.IGNORECASE,
)
WORDS = st.sampled_from(
    ["def", "f(", "function", "Class", "x", "implement", "Write", "a", "an", "the", "python",
     "PROGRAM", "code", "c++", "C++", "return", "returns", "_", "```", "``", "é", "1", " ",
     "  ", "\n", "(", "s", "barcode", "codes", "script", "javaScript", "-", "."]
)  # fmt: skip


@settings(derandomize=True, max_examples=1000, deadline=None)
@given(st.lists(WORDS, max_size=12).map("".join))
def test_code_request_matches_the_old_pattern(text: str) -> None:
    assert looks_like_code_request(text) == bool(OLD_CODE_REQUEST.search(text))


async def test_long_text_is_analysed_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []

    def recording(content: str, entry_point: str | None) -> verification.Code | None:
        threads.append(threading.get_ident())
        return extract_code(content, entry_point)

    monkeypatch.setattr(verification, "extract_code", recording)
    short = "```python\ndef f():\n    return 1\n```"
    long = short + " " * verification.OFF_LOOP_CHARS
    assert await extract_code_off_loop(short, "f") == extract_code(short, "f")
    assert await extract_code_off_loop(long, "f") == extract_code(long, "f")
    assert threads[0] == threading.get_ident() != threads[1]
    assert await parse_asserts_off_loop("assert f(1) == 1" + " " * 20_000) == ["assert f(1) == 1"]


async def test_past_the_deadline_the_caller_stops_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck(content: str, entry_point: str | None) -> verification.Code | None:
        release.wait(5)
        return None

    monkeypatch.setattr(verification, "extract_code", stuck)
    monkeypatch.setattr(verification, "ANALYSIS_DEADLINE_S", 0.05)
    try:
        started = time.perf_counter()
        long = "x" * (verification.OFF_LOOP_CHARS + 1)
        assert await extract_code_off_loop(long, "f") is None
        assert time.perf_counter() - started < 1
    finally:
        release.set()
        await asyncio.sleep(0)
