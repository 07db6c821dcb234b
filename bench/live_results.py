"""The results file of `atlas bench live`: one JSON line per (setting, problem).

Each line is appended and flushed as soon as its problem is graded, so an interrupted
run loses at most the request in flight. `--resume` skips every (setting, problem)
already answered; a line recording a failed request does not count as done, so
resuming retries it (the later line wins). A damaged line (a run killed mid-write) is
skipped with a warning.
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

    @property
    def key(self) -> tuple[str, str]:
        return (self.setting, self.task_id)


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

    def done(self, setting: Setting, problem: Problem) -> bool:
        row = self.rows.get((setting.key, problem.task_id))
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
