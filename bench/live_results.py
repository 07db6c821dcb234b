"""The results file of `atlas bench live`: one JSON line per (setting, problem).

Each line is appended and flushed as soon as its problem is graded, so an interrupted
run loses at most the request in flight. `--resume` skips every (setting, problem)
already answered; a line recording a failed request does not count as done, so
resuming retries it (the later line wins). A damaged line (a run killed mid-write) is
skipped with a warning.

The oracle of plain sampling has one line per problem too, written once its K samples
are graded: its `samples` (one per seed), `passed` when any of them passed, and wall
time, tokens and candidates summed over them. A sample that failed makes the line a
failure; resuming resends only the seeds that failed and keeps the others.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import IO, Any

import msgspec

from bench.live_client import Reply, Setting
from bench.live_data import Problem
from bench.live_grade import Grade

logger = logging.getLogger(__name__)


class Sample(msgspec.Struct, kw_only=True):
    """One of the oracle's plain samples: its seed, answer and grade."""

    seed: int
    passed: bool
    status: int
    wall_s: float
    tokens: int
    finish_reason: str | None = None
    error: str | None = None  # the request failed: nothing was graded
    grade: Grade | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    content: str = ""


class Row(msgspec.Struct, kw_only=True):
    dataset: str
    task_id: str
    index: int
    setting: str  # Setting.key, e.g. "k5-r0"
    k: int
    repair: int
    model: str
    passed: bool
    status: int
    wall_s: float
    tokens: int
    candidates: int
    finish_reason: str | None = None
    error: str | None = None  # the request failed: nothing was graded
    grade: Grade | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    debug: Any = None
    content: str = ""
    at: str = ""
    samples: list[Sample] = msgspec.field(default_factory=list)  # the oracle's only

    @property
    def key(self) -> tuple[str, str]:
        return (self.setting, self.task_id)

    @property
    def passes(self) -> int:
        """How many of the oracle's samples passed (0 for the other settings)."""
        return sum(s.passed for s in self.samples)


def make_row(
    problem: Problem, setting: Setting, model: str, reply: Reply, grade: Grade | None
) -> Row:
    return Row(
        dataset=problem.dataset,
        task_id=problem.task_id,
        index=problem.index,
        setting=setting.key,
        k=setting.k,
        repair=setting.repair,
        model=model,
        passed=grade is not None and grade.passed,
        status=reply.status,
        wall_s=round(reply.wall_s, 4),
        tokens=reply.tokens,
        candidates=reply.candidates,
        finish_reason=reply.finish_reason,
        error=reply.error,
        grade=grade,
        headers=reply.headers,
        debug=reply.debug,
        content=reply.content,
        at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


def make_sample(seed: int, reply: Reply, grade: Grade | None) -> Sample:
    return Sample(
        seed=seed,
        passed=grade is not None and grade.passed,
        status=reply.status,
        wall_s=round(reply.wall_s, 4),
        tokens=reply.tokens,
        finish_reason=reply.finish_reason,
        error=reply.error,
        grade=grade,
        headers=reply.headers,
        content=reply.content,
    )


def oracle_row(problem: Problem, setting: Setting, model: str, samples: list[Sample]) -> Row:
    """The oracle's line: passed when any sample passed; costs summed over the samples."""
    failed = [s for s in samples if s.error is not None]
    error = None
    if failed:
        first = failed[0]
        error = f"{len(failed)} of {len(samples)} samples failed; seed {first.seed}: {first.error}"
    return Row(
        dataset=problem.dataset,
        task_id=problem.task_id,
        index=problem.index,
        setting=setting.key,
        k=setting.k,
        repair=setting.repair,
        model=model,
        passed=any(s.passed for s in samples),
        status=failed[0].status if failed else 200,
        wall_s=round(sum(s.wall_s for s in samples), 4),
        tokens=sum(s.tokens for s in samples),
        candidates=len(samples) - len(failed),
        error=error,
        samples=samples,
        at=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


class Results:
    """The rows of one results file: loaded (for --resume) and appended to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[tuple[str, str], Row] = {}
        self._handle: IO[bytes] | None = None

    @classmethod
    def load(cls, path: Path) -> Results:
        results = cls(path)
        if path.exists():
            decoder = msgspec.json.Decoder(Row)
            for number, line in enumerate(path.read_bytes().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = decoder.decode(line)
                except msgspec.DecodeError:
                    logger.warning("%s:%d: skipping a damaged line", path, number)
                    continue
                results.rows[row.key] = row
        return results

    def get(self, setting: Setting, problem: Problem) -> Row | None:
        return self.rows.get((setting.key, problem.task_id))

    def done(self, setting: Setting, problem: Problem) -> bool:
        row = self.get(setting, problem)
        return row is not None and row.error is None

    def add(self, row: Row) -> None:
        self.rows[row.key] = row
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
            if self._handle.tell() and not self.path.read_bytes().endswith(b"\n"):
                self._handle.write(b"\n")  # end a line cut short by a killed run
        self._handle.write(msgspec.json.encode(row) + b"\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def of(self, setting: Setting, problems: list[Problem]) -> list[Row]:
        """This setting's rows for these problems, in problem order (missing ones left out)."""
        found = (self.rows.get((setting.key, p.task_id)) for p in problems)
        return [row for row in found if row is not None]
