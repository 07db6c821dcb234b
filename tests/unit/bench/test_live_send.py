"""Sending one (problem, setting): the oracle's K seeded samples, and its resume."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bench.live_client import MODEL_ALONE, ORACLE_TEMPERATURE, oracle_setting
from bench.live_data import Problem, humaneval_problems
from bench.live_grade import Grade, Grader
from bench.live_results import Results
from bench.live_send import Sender

PROBLEM = humaneval_problems()[0]
ORACLE = oracle_setting(4)


class AnswerGrader(Grader):
    """Passes the answer "right", fails any other; no sandbox."""

    def __init__(self) -> None:
        self.graded: list[str] = []

    async def grade(self, problem: Problem, answer: str) -> Grade:
        self.graded.append(answer)
        return Grade(passed=answer == "right")


def upstream(seen: list[dict[str, object]], down: tuple[int, ...] = ()) -> httpx.MockTransport:
    """Answers "right" to seed 2 only; a seed in `down` gets a 502."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"k": request.headers["x-atlas-k"], **body})
        if body.get("seed") in down:
            return httpx.Response(502, json={"error": {"message": "upstream down"}})
        text = "right" if body.get("seed") == 2 else f"wrong {body.get('seed')}"
        choice = {"message": {"content": text}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice], "usage": {"total_tokens": 10}})

    return httpx.MockTransport(answer)


async def send(
    seen: list[dict[str, object]], grader: AnswerGrader, results: Results, down: tuple[int, ...]
) -> None:
    async with httpx.AsyncClient(transport=upstream(seen, down)) as client:
        sender = Sender(client, "http://gw/v1/chat/completions", "m", 768, grader)
        results.add(await sender.row(PROBLEM, ORACLE, results.get(ORACLE, PROBLEM)))


async def test_the_oracle_sends_k_plain_seeded_samples_and_counts_the_passes(
    tmp_path: Path,
) -> None:
    seen: list[dict[str, object]] = []
    grader = AnswerGrader()
    results = Results(tmp_path / "run.jsonl")
    await send(seen, grader, results, down=())
    assert [body["seed"] for body in seen] == [0, 1, 2, 3]
    for body in seen:
        assert (body["k"], body["temperature"]) == ("1", ORACLE_TEMPERATURE)
        assert body["atlas"] == {"k": 1, "repair": 0, "debug": True}
    row = results.rows[(ORACLE.key, PROBLEM.task_id)]
    assert (row.passed, row.passes, row.candidates, row.tokens, row.error) == (
        True,
        1,
        4,
        40,
        None,
    )
    assert [s.seed for s in row.samples] == [0, 1, 2, 3]
    assert [s.passed for s in row.samples] == [False, False, True, False]
    assert row.wall_s == round(sum(s.wall_s for s in row.samples), 4)
    assert grader.graded == ["wrong 0", "wrong 1", "right", "wrong 3"]
    assert results.done(ORACLE, PROBLEM) and not results.done(MODEL_ALONE, PROBLEM)


async def test_a_resumed_oracle_resends_only_the_seeds_that_failed(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    first: list[dict[str, object]] = []
    results = Results(path)
    await send(first, AnswerGrader(), results, down=(1, 2))
    results.close()
    failed = Results.load(path).rows[(ORACLE.key, PROBLEM.task_id)]
    assert failed.error == "2 of 4 samples failed; seed 1: HTTP 502: upstream down"
    assert (failed.passed, failed.candidates, failed.status) == (False, 2, 502)

    resumed = Results.load(path)
    assert not resumed.done(ORACLE, PROBLEM)
    again: list[dict[str, object]] = []
    grader = AnswerGrader()
    await send(again, grader, resumed, down=())
    resumed.close()
    assert [body["seed"] for body in again] == [1, 2]
    assert grader.graded == ["wrong 1", "right"]
    row = Results.load(path).rows[(ORACLE.key, PROBLEM.task_id)]
    assert (row.error, row.passes, row.candidates) == (None, 1, 4)
    assert [s.content for s in row.samples] == ["wrong 0", "wrong 1", "right", "wrong 3"]
    assert len(path.read_bytes().splitlines()) == 2  # one line per try; the later wins


async def test_a_plain_setting_is_one_unseeded_request() -> None:
    seen: list[dict[str, object]] = []
    grader = AnswerGrader()
    async with httpx.AsyncClient(transport=upstream(seen)) as client:
        sender = Sender(client, "http://gw/v1/chat/completions", "m", 768, grader)
        row = await sender.row(PROBLEM, MODEL_ALONE)
    assert len(seen) == 1 and "seed" not in seen[0] and seen[0]["temperature"] == 0
    assert (row.setting, row.passed, row.samples, row.content) == ("k1-r0", False, [], "wrong None")
