"""`atlas bench live` end to end: a real in-process gateway on a scripted upstream, two
HumanEval problems (one answered right, one wrong), graded in the real nsjail sandbox."""

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


def answer(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    return RIGHT if "has_close_elements" in prompt else WRONG


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
