"""One (problem, setting) of `atlas bench live` sent to the gateway and graded.

A setting is one request and one grade; the oracle of plain sampling is `samples`
pass-through requests (seeds 0, 1, ...), each graded before the next. Resuming an oracle
line that had failed samples resends only those seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.live_client import Reply, Setting, ask, request_body
from bench.live_data import Problem
from bench.live_grade import Grade, Grader
from bench.live_results import Row, Sample, make_row, make_sample, oracle_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sender:
    client: httpx.AsyncClient
    chat_url: str
    model: str
    max_tokens: int
    grader: Grader

    async def row(self, problem: Problem, setting: Setting, previous: Row | None = None) -> Row:
        """The results line of `setting` on `problem`; `previous` is its line from the
        results file (resumed), whose answered samples the oracle keeps."""
        if setting.oracle:
            kept = previous.samples if previous is not None else []
            samples = await self.samples(problem, setting, kept)
            return oracle_row(problem, setting, self.model, samples)
        reply, grade = await self.answer(problem, setting)
        return make_row(problem, setting, self.model, reply, grade)

    async def samples(
        self, problem: Problem, setting: Setting, kept: Sequence[Sample] = ()
    ) -> list[Sample]:
        """One sample per seed 0..samples-1: an answered one in `kept`, else a new one."""
        answered = {s.seed: s for s in kept if s.error is None}
        samples = []
        for seed in range(setting.samples):
            if seed in answered:
                samples.append(answered[seed])
                continue
            reply, grade = await self.answer(problem, setting, seed)
            samples.append(make_sample(seed, reply, grade))
        return samples

    async def answer(
        self, problem: Problem, setting: Setting, seed: int | None = None
    ) -> tuple[Reply, Grade | None]:
        """One request and, when it was answered, its grade."""
        body = request_body(self.model, problem, setting, self.max_tokens, seed)
        reply = await ask(self.client, self.chat_url, body, setting)
        if reply.error is not None:
            where = "" if seed is None else f" seed {seed}"
            logger.warning("%s %s%s: %s", problem.task_id, setting.label, where, reply.error)
            return reply, None
        return reply, await self.grader.grade(problem, reply.content)
