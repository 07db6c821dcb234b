"""What best-of-k knows about its candidates while it runs, and what it decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engines import (
    CapacityExceededError,
    EngineError,
    UpstreamProtocolError,
    UpstreamRejectedError,
)
from gateway.strategies.base import LabelledCode, Lessons, TestSource
from gateway.strategies.best_of_k.selection import Evidence
from gateway.strategies.best_of_k.verification import Code, FailedTest, GeneratedResult
from gateway.strategies.views import Usage

REQUESTED = 0  # the index of the candidate the client asked for


@dataclass(slots=True)
class Candidate:
    index: int
    seed: int
    data: dict[str, Any] | None = None
    content: str = ""
    code: Code | None = None
    usage: Usage = field(default_factory=Usage)
    error: EngineError | None = None
    skipped: bool = False  # never sent: the search's time budget was spent
    order: int = -1
    trusted_passed: int | None = None
    failures: tuple[FailedTest, ...] = ()
    generated: GeneratedResult | None = None
    # What it returned on inputs derived from the visible examples (see derived_inputs);
    # None: not run yet.
    derived: tuple[str, ...] | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # 0: one of the k candidates; r > 0: made in repair round r from candidate `parent`.
    round: int = 0
    parent: int | None = None
    parent_code: str | None = None
    # The messages that produced it (None: the client's own), continued by repair.
    conversation: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Outcome:
    winner: Candidate
    selection: str
    candidates: list[Candidate]
    tests_source: str
    tests_count: int
    verified: int
    total: Usage
    early_stop: bool = False
    repair_rounds: int = 0  # rounds run

    @property
    def repaired(self) -> int:
        """Candidates made by repair."""
        return sum(1 for c in self.candidates if c.round > 0)

    @property
    def winner_verified(self) -> bool:
        """The answer returned passed every trusted test (the request's or the prompt's)."""
        trusted = self.tests_source not in ("generated", "none")
        return trusted and self.tests_count > 0 and self.winner.trusted_passed == self.tests_count

    def completed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.data is not None]

    def lessons(self, problem: str) -> Lessons | None:
        """Every candidate with a complete verdict, labelled passed or failed."""
        labelled = tuple(LabelledCode(code, passed) for code, passed in self._labels())
        if not labelled:
            return None
        return Lessons(problem, self._source(), labelled)

    def _source(self) -> TestSource:
        if self.tests_source == "generated":
            return "generated"
        return "request" if self.tests_source.startswith("request") else "prompt"

    def _labels(self) -> list[tuple[str, bool]]:
        if self.tests_count == 0:
            return []
        labelled = []
        for candidate in self.candidates:
            if candidate.code is None:
                continue
            if self.tests_source == "generated" and candidate.generated is not None:
                passed = len(candidate.generated.passed) == self.tests_count
                labelled.append((candidate.code.source, passed))
            elif self.tests_source != "generated" and candidate.trusted_passed is not None:
                passed = candidate.trusted_passed == self.tests_count
                labelled.append((candidate.code.source, passed))
        return labelled


def agreement_key(candidate: Candidate) -> object:
    """What two candidates agree on when they are the same: their pass set and outputs on
    the model-written tests, else their code."""
    if candidate.generated is not None:
        return (candidate.generated.passed, candidate.generated.outputs)
    return candidate.code.source.strip() if candidate.code is not None else None


def evidence_of(candidate: Candidate) -> Evidence:
    generated = candidate.generated
    return Evidence(
        index=candidate.index,
        order=candidate.order,
        requested=candidate.index == REQUESTED,
        has_code=candidate.code is not None,
        trusted_passed=candidate.trusted_passed or 0,
        generated_passed=generated.passed if generated else frozenset(),
        outputs=((generated.outputs if generated else ()) + (candidate.derived or ())) or None,
    )


def all_failed_error(candidates: list[Candidate]) -> EngineError:
    errors = [c.error for c in candidates if c.error is not None]
    refused = [e for e in errors if isinstance(e, CapacityExceededError)]
    if refused and len(refused) == len(errors):
        return refused[0]  # the model's queue is full: a 429 with Retry-After
    rejected = [e for e in errors if isinstance(e, UpstreamRejectedError)]
    if rejected and len(rejected) == len(errors):
        return rejected[0]  # the request itself is refused: pass the 4xx through
    causes = sorted({f"{e.upstream or 'upstream'}: {e.message}" for e in errors})
    return UpstreamProtocolError(
        f"all {len(candidates)} candidate requests failed: " + "; ".join(causes)[:1500]
    )
