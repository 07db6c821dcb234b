"""`atlas bench live` end to end: a real in-process gateway on a scripted upstream, two
HumanEval problems (one answered right, one wrong), graded in the real nsjail sandbox;
then the oracle of plain sampling on an upstream that is right for one seed only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.live import main
from bench.live_data import humaneval_problems
from bench.live_grade import Grader
from sandbox import Sandbox, SandboxConfig
from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

pytestmark = [pytest.mark.slow, pytest.mark.nsjail, pytest.mark.timeout(240)]

RIGHT = """Sure:
```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    return any(
        abs(a - b) < threshold
        for i, a in enumerate(numbers)
        for j, b in enumerate(numbers)
        if i != j
    )
```
"""
# Passes the prompt's one doctest, fails the hidden tests.
WRONG = """```python
def separate_paren_groups(paren_string):
    return ['()', '(())', '(()())']
```"""


RIGHT_PARENS = """```python
def separate_paren_groups(paren_string):
    groups, depth, current = [], 0, ""
    for char in paren_string.replace(" ", ""):
        current += char
        depth += 1 if char == "(" else -1
        if depth == 0:
            groups.append(current)
            current = ""
    return groups
```"""
WRONG_CLOSE = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"


def answer(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    return RIGHT if "has_close_elements" in prompt else WRONG


def answer_by_seed(body: dict[str, Any]) -> str:
    """Right for seed 1 only; wrong without a seed (the model alone) and for other seeds."""
    close = "has_close_elements" in body["messages"][-1]["content"]
    if body.get("seed") == 1:
        return RIGHT if close else RIGHT_PARENS
    return WRONG_CLOSE if close else WRONG


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_live_bench_grades_a_real_gateway_in_nsjail(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=answer, tests_content="no tests here"))
    gateway = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    doc = tmp_path / "docs" / "benchmarks.md"
    argv = ["--dataset", "humaneval", "--limit", "2", "--k", "1,2", "--repair", "0,1"]
    argv += ["--base-url", gateway.base_url, "--out", str(tmp_path / "out"), "--doc", str(doc)]
    assert main(argv) == 0

    results = tmp_path / "out" / "humaneval-0-2.jsonl"
    rows = {(r["setting"], r["task_id"]): r for r in lines(results)}
    assert len(rows) == 2 * 4  # the model alone, k1-r1, k2-r0, k2-r1 on both problems
    assert {r["model"] for r in rows.values()} == {"coder"}  # from /v1/models
    alone = rows[("k1-r0", "HumanEval/0")]
    assert alone["passed"] and alone["status"] == 200 and alone["grade"]["exit_code"] == 0
    assert alone["headers"]["x-atlas-route"] == "fast" and alone["candidates"] == 1
    wrong = rows[("k1-r0", "HumanEval/1")]
    assert not wrong["passed"] and wrong["grade"]["exit_code"] != 0
    assert "AssertionError" in wrong["grade"]["reason"]
    best = rows[("k2-r0", "HumanEval/0")]
    assert best["headers"]["x-atlas-k"] == "2" and best["candidates"] == 2
    assert isinstance(best["debug"], dict)  # the `atlas` debug object of best-of-k
    assert best["tokens"] == int(best["headers"]["x-atlas-total-tokens"]) > 0

    summary = json.loads(results.with_suffix(".summary.json").read_text())
    by_setting = {s["setting"]: s for s in summary["settings"]}
    assert set(by_setting) == {"k1-r0", "k1-r1", "k2-r0", "k2-r1"}
    for s in by_setting.values():
        assert (s["problems"], s["errors"], s["pass_at_1"], s["losses"]) == (2, 0, 0.5, [])
    assert by_setting["k2-r0"]["candidates_per_problem"] == 2.0
    assert by_setting["k1-r0"]["candidates_per_problem"] == 1.0

    # What the upstream saw: the prompts, never the hidden tests.
    chats = upstream.requests_to("/v1/chat/completions")
    sent = json.dumps([r.body for r in chats])
    assert "has_close_elements" in sent and "def check(candidate)" not in sent
    assert "METADATA" not in sent
    baseline = [r.body for r in chats if r.body.get("temperature") == 0]
    assert baseline and all("atlas" not in body for body in baseline)

    text = doc.read_text()
    assert "<!-- live-humaneval:start -->" in text and "<!-- live-humaneval:end -->" in text
    assert "| model alone | pass-through | 2 | 50.0% | 1.00 |" in text
    assert (doc.parent / "img" / "live_humaneval.png").read_bytes()[:4] == b"\x89PNG"

    # Resumed: nothing left to send, the same figures.
    asked = len(chats)
    assert main([*argv, "--resume"]) == 0
    assert len(upstream.requests_to("/v1/chat/completions")) == asked
    assert len(lines(results)) == 8


def test_the_oracle_of_plain_sampling_counts_any_of_k_and_resumes(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=answer_by_seed))
    gateway = gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))
    doc = tmp_path / "docs" / "benchmarks.md"
    argv = ["--dataset", "humaneval", "--limit", "2", "--k", "1", "--oracle", "3"]
    argv += ["--base-url", gateway.base_url, "--out", str(tmp_path / "out"), "--doc", str(doc)]
    assert main(argv) == 0

    results = tmp_path / "out" / "humaneval-0-2.jsonl"
    rows = {(r["setting"], r["task_id"]): r for r in lines(results)}
    assert set(rows) == {(s, f"HumanEval/{i}") for s in ("k1-r0", "oracle3-t0.6") for i in (0, 1)}
    for task in ("HumanEval/0", "HumanEval/1"):
        assert not rows[("k1-r0", task)]["passed"]
        oracle = rows[("oracle3-t0.6", task)]
        assert oracle["passed"] and oracle["error"] is None and oracle["candidates"] == 3
        samples = oracle["samples"]
        assert [(s["seed"], s["passed"]) for s in samples] == [(0, False), (1, True), (2, False)]
        assert all(s["headers"]["x-atlas-route"] == "fast" for s in samples)
        assert oracle["tokens"] == sum(s["tokens"] for s in samples) > 0

    summary = json.loads(results.with_suffix(".summary.json").read_text())
    by_setting = {s["setting"]: s for s in summary["settings"]}
    sampled = by_setting["oracle3-t0.6"]
    assert (sampled["oracle_pass_at_k"], sampled["samples_passed"], sampled["losses"]) == (
        1.0,
        2,
        [],
    )
    assert sampled["pass_at_1"] == pytest.approx(1 / 3)  # the raw pass@1 of sampling
    assert sampled["candidates_per_problem"] == 3.0 and by_setting["k1-r0"]["pass_at_1"] == 0.0

    # What the upstream saw: per problem, the model alone, then seeds 0..2 at t = 0.6.
    chats = [r.body for r in upstream.requests_to("/v1/chat/completions")]
    sent = [("has_close" in b["messages"][-1]["content"], b.get("seed")) for b in chats]
    first, second = [(True, None), (True, 0), (True, 1), (True, 2)], [(False, None)]
    assert sent == first + second + [(False, 0), (False, 1), (False, 2)]
    assert [b["temperature"] for b in chats] == [0, 0.6, 0.6, 0.6] * 2
    assert all("atlas" not in b for b in chats)
    text = doc.read_text()
    row = "| plain sampling, oracle pass@3 | pass-through, t=0.6, seeds 0..2 | 2 |"
    assert f"{row} 100.0% (raw 33.3%) | 3.00 |" in text
    assert "raw pass@1 of sampling 33.3% (2 of 6 samples)" in text

    # The last oracle line recorded seed 2 as failed: resuming resends only that seed.
    *kept, last = lines(results)
    last["error"], last["samples"][2]["error"] = "1 of 3 samples failed", "HTTP 502: down"
    results.write_text("".join(json.dumps(row) + "\n" for row in [*kept, last]))
    assert main([*argv, "--resume"]) == 0
    again = [r.body for r in upstream.requests_to("/v1/chat/completions")][len(chats) :]
    assert [("has_close" in b["messages"][-1]["content"], b["seed"]) for b in again] == [(False, 2)]
    resumed = lines(results)[-1]
    assert (resumed["error"], resumed["candidates"], len(resumed["samples"])) == (None, 3, 3)
    assert resumed["samples"][:2] == last["samples"][:2]  # kept, not asked again
    assert len(lines(results)) == 5 and f"{row} 100.0% (raw 33.3%) | 3.00 |" in doc.read_text()


async def test_the_grader_runs_the_hidden_tests_in_the_jail() -> None:
    problem = humaneval_problems()[0]
    sandbox = await Sandbox.create(SandboxConfig(max_concurrency=1))
    try:
        assert sandbox.available, sandbox.availability.reason
        grader = Grader(sandbox)
        right = await grader.grade(problem, RIGHT)
        assert right.passed and right.exit_code == 0 and right.reason == ""
        wrong = "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```"
        failed = await grader.grade(problem, wrong)
        assert not failed.passed and "AssertionError" in failed.reason
        loop = "```python\ndef has_close_elements(numbers, threshold):\n    while True: pass\n```"
        killed = await grader.grade(problem, loop)
        assert not killed.passed and killed.killed_by in ("cpu_time", "wall_time")
        nothing = await grader.grade(problem, "I do not know.")
        assert (nothing.passed, nothing.reason) == (False, "no code in the answer")
    finally:
        await sandbox.close()
