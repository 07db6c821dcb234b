"""best-of-k's search driven by in-memory fakes of its four collaborators: fast, no
nsjail, no server. The same flows run against real nsjail and a real upstream in
tests/integration/test_best_of_k.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from config import BestOfKSettings
from engines.errors import EngineError, UpstreamProtocolError, UpstreamRejectedError
from gateway.strategies.best_of_k.orchestrator import BestOfK, Collaborators
from gateway.strategies.best_of_k.verification import (
    Code,
    FailedTest,
    GeneratedResult,
    TrustedResult,
)
from gateway.strategies.views import Usage
from sandbox import TestCase

PROMPT = "Write a Python function add(a, b) that returns the sum of a and b."
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
PROSE = "I cannot help with that."


@dataclass(frozen=True)
class Msg:
    role: str
    content: str | list[dict[str, Any]] | None


def completion(content: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    if usage is not None:
        data["usage"] = usage
    return data


@dataclass
class FakeGenerator:
    """Answers by seed offset (seed - base); records what was asked and what was cancelled."""

    answers: dict[int, str | EngineError]
    base: int = 0
    delays: dict[int, float] = field(default_factory=dict)
    asserts: str = ""
    repairs: list[str] = field(default_factory=list)  # answers to repair requests, in turn
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    running: int = 0
    most_running: int = 0

    async def complete(self, body: dict[str, Any], purpose: str) -> dict[str, Any]:
        self.bodies.append((purpose, body))
        if purpose == "tests":
            usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
            return completion(f"```python\n{self.asserts}\n```", usage)
        if purpose == "repair":
            return completion(self.repairs.pop(0))
        offset = body["seed"] - self.base
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delays.get(offset, 0))
        except asyncio.CancelledError:
            self.cancelled.append(offset)
            raise
        finally:
            self.running -= 1
        answer = self.answers[offset]
        if isinstance(answer, EngineError):
            raise answer
        return completion(answer, {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})


@dataclass
class FakeVerifier:
    """A candidate passes a test when its source has the test's expected text in it."""

    available: bool = True
    # generated assert index -> code fragment that makes it pass
    generated_rules: dict[int, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)

    async def trusted(self, code: Code, tests: list[TestCase]) -> TrustedResult:
        self.checked.append(code.source)
        if "a + b" in code.source:
            return TrustedResult(len(tests))
        return TrustedResult(0, tuple(FailedTest(t.code, "expected 3, got -1") for t in tests))

    async def generated(self, code: Code, tests: list[TestCase], n_asserts: int) -> GeneratedResult:
        passed = frozenset(i for i, frag in self.generated_rules.items() if frag in code.source)
        return GeneratedResult(passed, ())


class FakeTokens:
    async def usage(self, prompt_text: str, completion_texts: Iterable[str]) -> Usage:
        completion = sum(len(t.split()) for t in completion_texts)
        return Usage(prompt_tokens=1, completion_tokens=completion, total_tokens=1 + completion)


def search(
    generator: FakeGenerator,
    verifier: FakeVerifier | None = None,
    *,
    k: int,
    tests: object = None,
    body: dict[str, Any] | None = None,
    seed: int | None = None,
    settings: BestOfKSettings | None = None,
    ranker: Any = None,
    prompt: str = PROMPT,
    window: int | None = None,
    repair: int | None = None,
    free_slots: Any = None,
) -> BestOfK:
    return BestOfK(
        body or {"model": "coder", "messages": [{"role": "user", "content": prompt}]},
        [Msg("system", "be brief"), Msg("user", prompt)],
        tests,
        k=k,
        # No time budget by default: the fakes answer instantly, so any multiple is ~0 s.
        settings=settings or BestOfKSettings(k=1, max_k=20, test_requests=2, time_budget=0),
        seed=seed,
        tools=Collaborators(
            generator=generator,
            verifier=verifier or FakeVerifier(),
            tokens=FakeTokens(),
            ranker=ranker,
        ),
        window=window,
        repair_rounds=repair,
        free_slots=free_slots,
    )


async def test_the_candidate_passing_the_request_tests_wins() -> None:
    generator = FakeGenerator({0: BAD, 1: GOOD, 2: BAD})
    quorum = BestOfKSettings(k=1, max_k=20, time_budget=0, early_stop_quorum=2)
    outcome = await search(
        generator, k=3, tests=["assert add(1, 2) == 3"], settings=quorum
    ).execute()
    assert outcome.winner.index == 1
    assert outcome.selection.startswith("tests")
    assert (outcome.tests_source, outcome.tests_count, outcome.verified) == ("request", 1, 1)
    # Usage adds up every completed candidate's reported usage: one pass is no quorum
    # of two, so the waves went on to k.
    assert outcome.total == Usage(prompt_tokens=30, completion_tokens=15, total_tokens=45)
    assert len(outcome.candidates) == 3 and not outcome.early_stop
    first_pass_stops = BestOfKSettings(k=1, max_k=20, time_budget=0, early_stop_quorum=1)
    generator = FakeGenerator({0: BAD, 1: GOOD, 2: BAD})
    outcome = await search(
        generator, k=3, tests=["assert add(1, 2) == 3"], settings=first_pass_stops
    ).execute()
    # k is a ceiling: with a quorum of 1, candidate 2 is never asked for.
    assert outcome.winner.index == 1 and len(outcome.candidates) == 2 and outcome.early_stop
    assert outcome.total == Usage(prompt_tokens=20, completion_tokens=10, total_tokens=30)


async def test_early_stop_cancels_the_candidates_still_generating() -> None:
    generator = FakeGenerator({0: GOOD, 1: BAD, 2: BAD, 3: BAD}, delays={1: 30, 2: 30, 3: 30})
    settings = BestOfKSettings(k=1, max_k=20, time_budget=0, first_wave=3, early_stop_quorum=1)
    outcome = await asyncio.wait_for(
        search(generator, k=4, tests=["assert add(1, 2) == 3"], settings=settings).execute(), 5
    )
    assert outcome.early_stop and outcome.winner.index == 0
    assert sorted(generator.cancelled) == [1, 2]  # the first wave's; 3 was never sent
    assert len(outcome.completed()) == 1
    assert [b["seed"] for p, b in generator.bodies if p == "candidate"] == [0, 1, 2]


async def test_two_agreeing_passes_stop_early_and_one_alone_does_not() -> None:
    slow = {2: 30.0, 3: 30.0}
    agreeing = FakeGenerator({0: GOOD, 1: GOOD, 2: BAD, 3: BAD}, delays=slow)
    settings = BestOfKSettings(k=1, max_k=20, time_budget=0, first_wave=4, early_stop_quorum=2)
    outcome = await asyncio.wait_for(
        search(agreeing, k=4, tests=["assert add(1, 2) == 3"], settings=settings).execute(), 5
    )
    assert outcome.early_stop and outcome.winner.index == 0
    assert sorted(agreeing.cancelled) == [2, 3]
    # One pass among slow failures: the search waits for them instead of stopping.
    alone = FakeGenerator({0: GOOD, 1: BAD, 2: BAD}, delays={1: 0.05, 2: 0.05})
    outcome = await search(
        alone, k=3, tests=["assert add(1, 2) == 3"], settings=settings, repair=0
    ).execute()
    assert not alone.cancelled and len(outcome.completed()) == 3
    assert outcome.winner.index == 0 and not outcome.early_stop


async def test_a_first_wave_that_passes_is_the_only_wave() -> None:
    generator = FakeGenerator({i: GOOD for i in range(8)})
    outcome = await search(generator, k=8, tests=["assert add(1, 2) == 3"]).execute()
    assert [b["seed"] for p, b in generator.bodies if p == "candidate"] == [0, 1]
    assert outcome.early_stop and outcome.winner.index == 0


async def test_more_waves_while_no_candidate_passes_each_as_large_as_the_free_slots() -> None:
    generator = FakeGenerator({0: BAD, 1: BAD, 2: BAD, 3: BAD, 4: BAD, 5: GOOD, 6: GOOD, 7: GOOD})
    free = iter([9, 3, 0, 0])  # asked before each wave
    outcome = await search(
        generator,
        k=8,
        tests=["assert add(1, 2) == 3"],
        window=4,
        repair=0,
        free_slots=lambda: next(free),
        settings=BestOfKSettings(k=1, max_k=20, time_budget=0, early_stop_quorum=2),
    ).execute()
    waves = [b["seed"] for p, b in generator.bodies if p == "candidate"]
    # first_wave (2 of the 9 free), then the 3 free, then 1 (none free: still one), which
    # passes alone (no quorum of two), then 1 more that agrees; 7 is never asked for.
    assert waves == [0, 1, 2, 3, 4, 5, 6]
    assert outcome.winner.index == 5 and outcome.early_stop
    busy = FakeGenerator({i: BAD for i in range(3)}, delays=dict.fromkeys(range(3), 0.01))
    await search(
        busy, k=3, tests=["assert add(1, 2) == 3"], repair=0, free_slots=lambda: 0
    ).execute()
    assert busy.most_running == 1 and len(busy.bodies) == 3


async def test_without_trusted_tests_more_waves_only_while_candidates_disagree() -> None:
    asserts = "assert add(1, 2) == 3\nassert add(0, 0) == 0"
    agreeing = FakeGenerator({i: GOOD for i in range(6)}, asserts=asserts)
    verifier = FakeVerifier(generated_rules={0: "a + b", 1: "a + b"})
    outcome = await search(agreeing, verifier, k=6, prompt="def add(a, b): ...", window=1).execute()
    # Waves of one: three that agree (CONSENSUS_QUORUM) settle it; two would not.
    assert len([p for p, _ in agreeing.bodies if p == "candidate"]) == 3
    assert outcome.tests_source == "generated"
    split = FakeGenerator({0: GOOD, 1: BAD, 2: GOOD, 3: GOOD}, asserts=asserts)
    outcome = await search(split, verifier, k=4, prompt="def add(a, b): ...").execute()
    assert len([p for p, _ in split.bodies if p == "candidate"]) == 4
    assert outcome.winner.index in (0, 2, 3) and outcome.selection.startswith("codet")
    prose = FakeGenerator({i: PROSE for i in range(6)}, asserts=asserts)
    await search(prose, verifier, k=6, prompt="def add(a, b): ...").execute()
    assert len([p for p, _ in prose.bodies if p == "candidate"]) == 2  # nothing to verify


async def test_seeds_temperature_and_dropped_fields_of_candidate_requests() -> None:
    generator = FakeGenerator({0: GOOD, 1: GOOD}, base=40)
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "atlas": {"k": 2},
        "n": 1,
        "top_k": 7,
    }
    await search(generator, k=2, body=body, seed=40, tests=["assert add(1, 2) == 3"]).execute()
    candidates = [b for purpose, b in generator.bodies if purpose == "candidate"]
    assert sorted(b["seed"] for b in candidates) == [40, 41]
    # Candidate 0 is the one the client asked for (greedy); the others are sampled, as a
    # client temperature of 0 would repeat one answer.
    assert {b["seed"]: b["temperature"] for b in candidates} == {40: 0, 41: 0.6}
    for sent in candidates:
        assert sent["top_k"] == 7  # fields the gateway does not read are kept
        assert not {"stream", "stream_options", "atlas", "n"} & set(sent)


async def test_all_candidates_failing_is_one_error_naming_the_causes() -> None:
    failure = UpstreamProtocolError("answered 500", upstream="http://u1")
    generator = FakeGenerator({0: failure, 1: failure})
    with pytest.raises(UpstreamProtocolError, match=r"all 2 candidate requests failed.*500"):
        await search(generator, k=2).execute()


async def test_all_candidates_refused_passes_the_4xx_through() -> None:
    refused = UpstreamRejectedError("refused", upstream="http://u1", status=400, body=b"{}")
    generator = FakeGenerator({0: refused, 1: refused})
    with pytest.raises(UpstreamRejectedError):
        await search(generator, k=2).execute()


async def test_without_a_sandbox_the_first_completed_candidate_is_unverified() -> None:
    generator = FakeGenerator({0: BAD, 1: GOOD}, delays={0: 0.05})
    outcome = await search(generator, FakeVerifier(available=False), k=2, tests=[]).execute()
    assert outcome.selection == "unverified" and outcome.winner.index == 1
    assert not any(purpose == "tests" for purpose, _ in generator.bodies)


async def test_consensus_on_generated_tests_when_no_trusted_tests_exist() -> None:
    other = "```python\ndef add(a, b):\n    return b + a + 0\n```"
    generator = FakeGenerator(
        {0: BAD, 1: GOOD, 2: GOOD, 3: other},
        asserts="assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(2, 2) == 4",
    )
    verifier = FakeVerifier(generated_rules={0: "a + b", 1: "return", 2: "a + b"})
    outcome = await search(generator, verifier, k=4, prompt="def add(a, b): ...").execute()
    assert outcome.tests_source == "generated" and outcome.tests_count == 3
    assert outcome.winner.index in (1, 2)
    assert outcome.selection.startswith("codet")
    lessons = outcome.lessons("def add(a, b): ...")
    assert lessons is not None and lessons.source == "generated"
    assert sorted(item.passed for item in lessons.labelled) == [False, False, True, True]
    # The test-writing requests' tokens were spent for this answer: they count.
    writers = sum(1 for purpose, _ in generator.bodies if purpose == "tests")
    answered = sum(1 for c in outcome.candidates if c.data is not None)
    assert writers > 0 and answered == 4
    assert outcome.total == Usage(
        prompt_tokens=10 * answered + 7 * writers,
        completion_tokens=5 * answered + 2 * writers,
        total_tokens=15 * answered + 9 * writers,
    )


async def test_the_ranker_breaks_a_tie_and_a_failing_ranker_is_skipped() -> None:
    generator = FakeGenerator({0: GOOD, 1: GOOD.replace("a + b", "a + b  # sum")})

    async def prefer_second(problem: str, codes: list[tuple[int, str]]) -> dict[int, float]:
        assert problem == PROMPT
        return {index: (0.0 if index == 1 else 1.0) for index, _ in codes}

    async def broken(problem: str, codes: list[tuple[int, str]]) -> dict[int, float]:
        raise RuntimeError("embedding sidecar down")

    settings = BestOfKSettings(k=1, test_requests=1)
    tests = ["assert add(1, 2) == 3"]
    ranked = await search(
        generator, k=2, tests=tests, ranker=prefer_second, settings=settings
    ).execute()
    assert ranked.winner.index == 1 and "lens" in ranked.selection
    fallback = await search(
        FakeGenerator({0: GOOD, 1: GOOD.replace("a + b", "a + b  # sum")}),
        k=2,
        tests=tests,
        ranker=broken,
        settings=settings,
    ).execute()
    assert "lens" not in fallback.selection


async def test_answers_without_code_are_never_verified() -> None:
    generator = FakeGenerator({0: PROSE, 1: PROSE})
    verifier = FakeVerifier()
    outcome = await search(generator, verifier, k=2, tests=["assert add(1, 2) == 3"]).execute()
    assert outcome.selection == "first" and verifier.checked == []
    assert outcome.lessons(PROMPT) is None


async def test_early_stop_still_finishes_the_requested_candidate_which_wins_the_tie() -> None:
    generator = FakeGenerator({0: GOOD, 1: GOOD, 2: BAD}, delays={0: 0.1, 2: 30})
    settings = BestOfKSettings(k=1, max_k=20, time_budget=0, first_wave=3)
    outcome = await asyncio.wait_for(
        search(generator, k=3, tests=["assert add(1, 2) == 3"], settings=settings).execute(), 5
    )
    assert outcome.early_stop and generator.cancelled == [2]
    assert outcome.winner.index == 0 and outcome.selection == "requested"


async def test_candidates_go_out_in_waves_that_fit_the_slots() -> None:
    generator = FakeGenerator({i: BAD for i in range(5)}, delays=dict.fromkeys(range(5), 0.02))
    await search(generator, k=5, tests=["assert add(1, 2) == 3"], window=2, repair=0).execute()
    assert generator.most_running == 2
    assert len([p for p, _ in generator.bodies if p == "candidate"]) == 5


async def test_a_repair_round_fixes_a_failing_candidate_with_the_jails_evidence() -> None:
    generator = FakeGenerator({0: BAD, 1: BAD.replace("a - b", "a * b")}, repairs=[GOOD, BAD])
    outcome = await search(generator, k=2, tests=["assert add(1, 2) == 3"]).execute()
    assert outcome.winner.round == 1 and outcome.winner.parent in (0, 1)
    assert (outcome.repair_rounds, outcome.repaired, outcome.verified) == (1, 2, 1)
    repairs = [b for purpose, b in generator.bodies if purpose == "repair"]
    assert len(repairs) == 2 and all(b["temperature"] == 0 for b in repairs)
    conversation = repairs[0]["messages"]
    assert conversation[0] == {"role": "user", "content": PROMPT}
    assert conversation[1]["role"] == "assistant" and "def add" in conversation[1]["content"]
    assert "assert add(1, 2) == 3" in conversation[2]["content"]
    assert "expected 3, got -1" in conversation[2]["content"]
    assert outcome.winner.data is not None and "a + b" in outcome.winner.content


async def test_repair_rounds_stop_at_the_limit_and_need_trusted_tests() -> None:
    still_bad = FakeGenerator({0: BAD}, repairs=[BAD, BAD, BAD])
    outcome = await search(still_bad, k=1, tests=["assert add(1, 2) == 3"], repair=2).execute()
    assert outcome.repair_rounds == 2 and outcome.winner.round == 0
    assert [c.parent for c in outcome.candidates] == [None, 0, 1]
    off = FakeGenerator({0: BAD, 1: BAD})
    await search(off, k=2, tests=["assert add(1, 2) == 3"], repair=0).execute()
    untested = FakeGenerator({0: BAD, 1: BAD}, asserts="assert add(1, 2) == 3")
    await search(untested, k=2, prompt="def add(a, b): ...").execute()
    for generator in (off, untested):
        assert not any(purpose == "repair" for purpose, _ in generator.bodies)


async def test_no_test_writing_requests_when_trusted_tests_exist() -> None:
    generator = FakeGenerator({0: GOOD, 1: GOOD})
    await search(generator, k=2, tests=["assert add(1, 2) == 3"]).execute()
    assert not any(purpose == "tests" for purpose, _ in generator.bodies)


async def test_the_prompts_imports_complete_the_answer_that_is_returned() -> None:
    prompt = "from typing import List\n\ndef total(xs: List[int]) -> int:\n    ...\n"
    bare = "Here:\n```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    generator = FakeGenerator({0: bare})
    verifier = FakeVerifier()
    outcome = await search(
        generator, verifier, k=1, prompt=prompt, tests=["assert 1"], repair=0
    ).execute()
    expected = "from typing import List\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    assert verifier.checked == [expected]  # verified ...
    data = outcome.winner.data
    assert data is not None
    assert (
        data["choices"][0]["message"]["content"] == f"Here:\n```python\n{expected}```"
    )  # ... = returned


def test_inputs_derived_from_the_examples_are_their_neighbours() -> None:
    from gateway.strategies.best_of_k.derived_inputs import derived_calls

    tests = [TestCase(kind="assert", code="assert add(2, 'ab') == 3", entry_point="add")]
    calls = derived_calls(tests, "add")
    assert calls[:3] == ["add(1, 'ab')", "add(0, 'ab')", "add(-2, 'ab')"]
    assert "add(2, '')" in calls and "add(2, 'ba')" in calls
    assert "add(2, 'ab')" not in calls  # the example itself tells nothing new
    assert derived_calls(tests, None) == calls  # the called function, when nothing names it
    assert derived_calls(tests, "other") == []


@dataclass
class OutputVerifier(FakeVerifier):
    """Everyone passes the trusted tests; outputs on derived inputs come from the code."""

    async def trusted(self, code: Code, tests: list[TestCase]) -> TrustedResult:
        return TrustedResult(len(tests))

    async def generated(self, code: Code, tests: list[TestCase], n_asserts: int) -> GeneratedResult:
        assert n_asserts == 0 and all("__atlas_out__" in t.code for t in tests)
        return GeneratedResult(
            frozenset(), tuple("-1" if "a - b" in code.source else "3" for _ in tests)
        )


async def test_tied_candidates_are_ranked_by_agreement_on_derived_inputs() -> None:
    # The requested candidate 0 is the odd one out on the derived inputs: the majority wins.
    other = GOOD.replace("a + b", "b + a")
    generator = FakeGenerator({0: BAD, 1: GOOD, 2: other}, delays={0: 0.05})
    # One wave of three (candidate 0 is slow, so all three are back before any passes).
    settings = BestOfKSettings(k=1, max_k=20, time_budget=0, first_wave=3)
    outcome = await search(
        generator, OutputVerifier(), k=3, tests=["assert add(1, 2) == 3"], settings=settings
    ).execute()
    assert outcome.winner.index in (1, 2) and outcome.selection == "mbr-exec"


async def test_candidates_not_started_within_the_time_budget_are_skipped() -> None:
    # Candidate 0 takes 0.1 s; with a budget of 1.5x that, one more wave starts, no more.
    generator = FakeGenerator({i: BAD for i in range(5)}, delays=dict.fromkeys(range(5), 0.1))
    settings = BestOfKSettings(k=1, max_k=20, time_budget=1.5, time_budget_min_s=0, repair_rounds=0)
    outcome = await search(
        generator, k=5, tests=["assert add(1, 2) == 3"], window=1, settings=settings
    ).execute()
    assert [c.skipped for c in outcome.candidates] == [False, False, True, True, True]
    assert len([p for p, _ in generator.bodies if p == "candidate"]) == 2
    unlimited = FakeGenerator({i: BAD for i in range(3)}, delays=dict.fromkeys(range(3), 0.05))
    settings = BestOfKSettings(k=1, max_k=20, time_budget=0, repair_rounds=0)
    outcome = await search(
        unlimited, k=3, tests=["assert add(1, 2) == 3"], window=1, settings=settings
    ).execute()
    assert not any(c.skipped for c in outcome.candidates)


def test_a_repair_keeps_the_helpers_its_parent_defined_and_it_still_calls() -> None:
    from gateway.strategies.best_of_k.repair import carried_over

    parent = (
        "import math\n\ndef helper(x):\n    return x + 1\n\ndef unused():\n    pass\n\n"
        "def f(x):\n    return helper(x)\n"
    )
    repaired = "def f(x):\n    return helper(x) * math.floor(1.5)\n"
    assert carried_over(parent, repaired) == ["import math", "def helper(x):\n    return x + 1"]
    assert carried_over(parent, parent) == []
    assert carried_over("def broken(:", repaired) == []


async def test_a_repaired_answer_is_returned_with_the_helpers_it_was_verified_with() -> None:
    helper = "def plus(x, y):\n    return x + y\n\n"
    parent = f"```python\n{helper}def add(a, b):\n    return a - b\n```"
    fixed = "```python\ndef add(a, b):\n    return plus(a, b)  # a + b\n```"
    verifier = FakeVerifier()
    generator = FakeGenerator({0: parent}, repairs=[fixed])
    outcome = await search(generator, verifier, k=1, tests=["assert add(1, 2) == 3"]).execute()
    assert outcome.winner.round == 1
    expected = (
        "def plus(x, y):\n    return x + y\n\ndef add(a, b):\n    return plus(a, b)  # a + b\n"
    )
    assert verifier.checked[-1] == expected
    assert outcome.winner.content == f"```python\n{expected}```"


async def test_the_first_wave_goes_out_before_the_test_writing_requests() -> None:
    generator = FakeGenerator(
        {0: GOOD, 1: GOOD}, delays={0: 0.02, 1: 0.02}, asserts="assert add(1, 2) == 3"
    )
    verifier = FakeVerifier(generated_rules={0: "a + b"})
    await search(generator, verifier, k=2, window=2, prompt="def add(a, b): ...").execute()
    # Two slots: the client's own candidate and its sibling take them; the two
    # test-writing requests wait in the search's slots, never ahead of candidate 0.
    assert [p for p, _ in generator.bodies] == ["candidate", "candidate", "tests", "tests"]
