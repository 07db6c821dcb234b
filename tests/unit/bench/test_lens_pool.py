"""The Lens pool builder's pure parts: problem order and balanced sample picks."""

from __future__ import annotations

from bench.lens_pool import _prompt, pick_samples, plan_problems

VERDICTS = {f"p{i}": [True, False] if i % 3 else [False, False] for i in range(20)}


def is_mixed(problem: str) -> bool:
    return any(VERDICTS[problem]) and not all(VERDICTS[problem])


def test_plan_keeps_the_mixed_share_in_every_prefix() -> None:
    order = plan_problems(VERDICTS, 10, 0.8, seed=0)
    assert len(order) == len(set(order)) == 10
    for end in (5, 10):
        assert sum(map(is_mixed, order[:end])) == 0.8 * end


def test_plan_is_deterministic_and_falls_back_when_one_kind_runs_out() -> None:
    assert plan_problems(VERDICTS, 20, 0.8, 1) == plan_problems(VERDICTS, 20, 0.8, 1)
    everything = plan_problems(VERDICTS, 100, 0.8, 0)
    assert sorted(everything) == sorted(VERDICTS)
    assert all(map(is_mixed, plan_problems(VERDICTS, 13, 1.0, 0)))


def test_pick_balances_and_skips_duplicate_code() -> None:
    verdicts = [True, True, True, False, False, False, False]
    codes = ["a", "a", "b", "c", "d", "e", "c"]
    picked = pick_samples(verdicts, codes, 4, seed=0)
    assert len(picked) == 4 and picked == sorted(picked)
    assert sum(verdicts[i] for i in picked) == 2  # only two distinct passing codes
    assert len({codes[i] for i in picked}) == 4


def test_pick_fills_the_short_side_from_the_other() -> None:
    verdicts = [True, False, False, False, False]
    picked = pick_samples(verdicts, ["a", "b", "c", "d", "e"], 4, seed=0)
    assert sum(verdicts[i] for i in picked) == 1 and len(picked) == 4
    assert pick_samples([False] * 3, ["a", "b", "c"], 4, seed=0) == [0, 1, 2]


def test_prompt_is_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "u2"},
    ]
    assert _prompt(messages) == "u2"
    assert _prompt([]) == ""
