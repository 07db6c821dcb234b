"""Hidden-test verdicts for replay samples, run in the sandbox and cached on disk.

The cache is JSON Lines, one verdict a line: {"key": sha256 of (version, code, tests),
"passed": bool, "why": short reason}. Every verdict is appended and flushed as soon as it
is known, so an interrupted run resumes where it stopped; verdicts are keyed by content,
so datasets sharing code (the two CodeT variants) share one cache file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from sandbox import Limits, Sandbox, TestCase, extract_code_blocks

logger = logging.getLogger(__name__)

CACHE_VERSION = "atlas-hidden-v1"
# HumanEval's own harness allows 3 s per problem; the wall limit only covers jail start-up.
HIDDEN_LIMITS = Limits(wall_time_s=10.0, cpu_time_s=3, memory_mb=512)
JAIL_RETRIES = 2


class PassMatrixError(RuntimeError):
    """The sandbox could not judge a sample (the jail failed, not the code)."""


def answer_code(content: str) -> str:
    """The code of a chat answer: its first python (or untagged) fenced block, else all."""
    blocks = [b for b in extract_code_blocks(content) if b.language in (None, "python")]
    return blocks[0].code if blocks else content


def cache_key(code: str, tests: str) -> str:
    digest = hashlib.sha256()
    for part in (CACHE_VERSION, code, tests):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class VerdictCache:
    """Content-keyed pass/fail verdicts, loaded from and appended to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.verdicts: dict[str, bool] = {}
        self._handle: IO[str] | None = None
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        row = json.loads(line)
                        self.verdicts[row["key"]] = bool(row["passed"])
                    except (ValueError, KeyError, TypeError):
                        logger.warning("%s: skipping a damaged line", path)

    def get(self, key: str) -> bool | None:
        return self.verdicts.get(key)

    def put(self, key: str, passed: bool, why: str) -> None:
        self.verdicts[key] = passed
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps({"key": key, "passed": passed, "why": why}) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class HiddenTests:
    """Judges code against hidden tests: from the cache, else in the sandbox."""

    def __init__(
        self, sandbox: Sandbox, cache: VerdictCache, limits: Limits = HIDDEN_LIMITS
    ) -> None:
        self.sandbox = sandbox
        self.cache = cache
        self.limits = limits

    async def passed(self, code: str, tests: str) -> bool:
        key = cache_key(code, tests)
        known = self.cache.get(key)
        if known is not None:
            return known
        for _ in range(JAIL_RETRIES + 1):
            verdict = await self.sandbox.check(
                code, [TestCase(kind="assert", name="hidden", code=tests)], "python", self.limits
            )
            if verdict.error is None:
                break
        else:
            raise PassMatrixError(f"the jail failed to judge a sample: {verdict.error}")
        reasons = [t.reason for t in verdict.tests if not t.passed]
        why = "passed" if verdict.passed else (verdict.killed_by or (reasons or ["failed"])[0])
        self.cache.put(key, verdict.passed, why[:120])
        return verdict.passed


async def pass_matrix(
    problems: Sequence[tuple[str, Sequence[str], str]],
    judge: HiddenTests,
    concurrency: int,
    progress: Callable[[int], object] | None = None,
) -> dict[str, list[bool]]:
    """{problem id: [sample passed]} for (id, sample answers, hidden tests) triples.

    `concurrency` workers share one queue; `progress(n)` is called as verdicts arrive."""
    matrix = {pid: [False] * len(samples) for pid, samples, _ in problems}
    jobs: asyncio.Queue[tuple[str, int, str, str]] = asyncio.Queue()
    for pid, samples, tests in problems:
        for index, sample in enumerate(samples):
            jobs.put_nowait((pid, index, answer_code(sample), tests))

    async def worker() -> None:
        while not jobs.empty():
            pid, index, code, tests = jobs.get_nowait()
            matrix[pid][index] = await judge.passed(code, tests)
            if progress is not None:
                progress(1)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, concurrency)):
            group.create_task(worker())
    return matrix
