"""Best-of-k: generate up to k candidates in waves, verify them in the sandbox, return
the winner.

The flow reads top to bottom in `execute`. k is a ceiling, not a quota: a first wave of
`first_wave` candidates (candidate 0 being the one the client asked for: its own
temperature, greedy when it sent none; the others sampled), with, when no trusted tests
exist, the test-writing requests; verify each candidate as it arrives; stop early once
one passes every trusted test (still finishing candidate 0, the fallback verification
cannot beat). Only when none does (without trusted tests: when the candidates disagree
on the model-written tests) does another wave go out, as large as the engines' free
slots, until k have been tried (Adaptive-Consistency, Aggarwal et al. 2023). Then repair
rounds with the jail's evidence; then score consensus and select.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from config import BestOfKSettings
from engines import (
    CapacityExceededError,
    EngineError,
)
from gateway.strategies.base import Message
from gateway.strategies.best_of_k.candidates import (
    REQUESTED,
    Candidate,
    Outcome,
    agreement_key,
    all_failed_error,
    evidence_of,
)
from gateway.strategies.best_of_k.derived_inputs import derived_calls, probe_tests
from gateway.strategies.best_of_k.ports import Generator, Purpose, Ranker, UsageCounter, Verifier
from gateway.strategies.best_of_k.prompt_context import (
    answer_code,
    problem_text,
    prompt_imports,
    with_message_text,
)
from gateway.strategies.best_of_k.repair import (
    MAX_FAILURES_SHOWN,
    compared_call,
    repair_conversation,
)
from gateway.strategies.best_of_k.selection import Evidence, select
from gateway.strategies.best_of_k.signature_inputs import signature_calls
from gateway.strategies.best_of_k.testgen import (
    entry_point_of,
    generated_tests,
    test_request_messages,
)
from gateway.strategies.best_of_k.verification import (
    Code,
    TrustedTests,
    off_loop,
    parse_asserts_off_loop,
    trusted_tests,
)
from gateway.strategies.views import Usage, first_message_text
from sandbox import TestCase

logger = logging.getLogger(__name__)

CANDIDATE_DROPPED = ("atlas", "n", "stream", "stream_options")
TEST_SEED_OFFSET = 1_000_003  # test-writing requests use other seeds than candidates
REPAIR_SEED_OFFSET = 2_000_003
# Without trusted tests, the waves stop once this many candidates agree: two samples that
# agree on weak inputs are often the same wrong answer (codet-a: 2 of 2 agreeing stopped
# searches whose 100 samples were 73 % right).
CONSENSUS_QUORUM = 3


@dataclass(slots=True)
class _Run:
    """Mutable state of one execution; the tasks it owns are cancelled on exit."""

    candidates: list[Candidate]
    tasks: dict[asyncio.Task[Any], tuple[str, Candidate | None]] = field(default_factory=dict)
    finished: int = 0
    total: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class Collaborators:
    generator: Generator
    verifier: Verifier
    tokens: UsageCounter
    ranker: Ranker | None = None


class BestOfK:
    """One best-of-k search over a chat request (`body`: the client's decoded JSON)."""

    def __init__(
        self,
        body: dict[str, Any],
        messages: Sequence[Message],
        request_tests: object,
        *,
        k: int,
        settings: BestOfKSettings,
        seed: int | None,
        tools: Collaborators,
        window: int | None = None,
        repair_rounds: int | None = None,
        free_slots: Callable[[], int] | None = None,
    ) -> None:
        self._k = k
        self._settings = settings
        self._seed = seed
        self._window = max(1, window or k)
        self._free_slots = free_slots
        # This search's requests in flight at once: never more than the engines' slots,
        # so it never queues behind itself in the pool.
        self._slots = asyncio.Semaphore(self._window)
        self._repair_rounds = settings.repair_rounds if repair_rounds is None else repair_rounds
        self._generator = tools.generator
        self._verifier = tools.verifier
        self._tokens = tools.tokens
        self._ranker = tools.ranker
        self._requested_temperature = body.get("temperature") or 0
        self._body = self._candidate_body(body)
        self._messages: list[dict[str, Any]] = list(body.get("messages") or [])
        self.prompt = problem_text(messages)
        self._entry_point = entry_point_of(self.prompt)
        self._imports = prompt_imports(self.prompt)
        # Parsed now so that malformed request tests are a 400 before any work starts.
        self.trusted: TrustedTests = trusted_tests(request_tests, self.prompt, self._entry_point)
        self.progress = "starting"
        self._test_weights: list[float] = []
        self._suite: tuple[list[TestCase], int] | None = None  # model-written tests
        self._tests_usage = Usage()  # the test-writing requests' tokens: spent, so counted
        self._started_at = 0.0
        self._requested_s: float | None = None  # how long the client's own candidate took

    def _candidate_body(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in body.items() if k not in CANDIDATE_DROPPED}
        # A client temperature of 0 would make every sampled candidate the same answer.
        if not body.get("temperature"):
            body["temperature"] = self._settings.temperature(self._k)
        return body

    def _body_for(self, candidate: Candidate) -> dict[str, Any]:
        body = {**self._body, "seed": candidate.seed}
        if candidate.index == REQUESTED:
            body["temperature"] = self._requested_temperature
        if candidate.conversation is not None:
            body["messages"] = candidate.conversation
            body["temperature"] = 0  # the repair of one candidate: its most likely fix
        return body

    @property
    def seed_base(self) -> int:
        return self._seed if self._seed is not None else self._settings.seed_base

    async def execute(self) -> Outcome:
        self._started_at = asyncio.get_running_loop().time()
        run = _Run([])
        try:
            first = self._start_wave(run)  # out before the test-writing, in this search's slots
            tests_task = self._maybe_generate_tests(run)
            early = await self._waves(run, first, tests_task)
            if not any(c.data is not None for c in run.candidates):
                raise all_failed_error(run.candidates)
            rounds = 0
            while not early and rounds < self._repair_rounds and self._repairable(run):
                rounds += 1
                early = await self._repair(run, rounds)
            completed = [c for c in run.candidates if c.data is not None]
            contenders = self._contenders(completed)
            generated = 0
            if tests_task is None and self._tie_needs_tests(contenders):
                tests_task = asyncio.ensure_future(self._write_tests())
                run.tasks[tests_task] = ("tests", None)
            if tests_task is not None and len(contenders) > 1:
                generated = await self._verify_generated(contenders, tests_task)
            if self.trusted.tests and len(contenders) > 1:
                await self._run_derived_inputs(contenders)
            outcome = await self._decide(run, completed, early, generated)
            outcome.repair_rounds = rounds
            return outcome
        finally:
            await _cancel(run.tasks)

    async def _waves(
        self, run: _Run, wave: list[Candidate], tests_task: asyncio.Task[list[str]] | None
    ) -> bool:
        """Collect `wave`, then send the next, until one passes every trusted test (True:
        early stop), the candidates settle (`_needs_more`), or k have been tried."""
        while True:
            if await self._collect(run, self._settings.early_stop_quorum):
                return True
            if len(run.candidates) >= self._k:
                return False
            if not await self._needs_more(run, wave, tests_task):
                return False
            if self._over_budget():
                self._skip_the_rest(run)
                return False
            wave = self._start_wave(run)

    def _start_wave(self, run: _Run) -> list[Candidate]:
        first = len(run.candidates)
        wave = [
            Candidate(index, self.seed_base + index)
            for index in range(first, first + self._wave_size(first))
        ]
        for candidate in wave:
            run.candidates.append(candidate)
            self._spawn(run, self._generate(candidate), "candidate", candidate)
        return wave

    def _wave_size(self, started: int) -> int:
        """The next wave: what the engines can run now (at least one), within the
        search's window; the first also within `first_wave`."""
        size = self._window
        if self._free_slots is not None:
            size = min(size, max(1, self._free_slots()))
        if not started:
            size = min(size, self._settings.first_wave)
        return min(size, self._k - started)

    def _skip_the_rest(self, run: _Run) -> None:
        for index in range(len(run.candidates), self._k):
            run.candidates.append(Candidate(index, self.seed_base + index, skipped=True))

    async def _needs_more(
        self, run: _Run, wave: list[Candidate], tests_task: asyncio.Task[list[str]] | None
    ) -> bool:
        """Whether another wave can still change the answer. With trusted tests: yes,
        no quorum passed them all yet (else the wave stopped early). Without: while fewer
        than CONSENSUS_QUORUM have code or they disagree on the model-written tests and
        the signature's inputs (or, with neither, differ in code); nothing to verify
        or compare: no."""
        if wave and all(isinstance(c.error, CapacityExceededError) for c in wave):
            return False  # the queue refused this search: more would be refused too
        if not any(c.data is not None for c in run.candidates):
            return True
        if not self._verifier.available:
            return False  # nothing can tell candidates apart: the first one answers
        if self.trusted.tests:
            return True
        with_code = [c for c in run.candidates if c.data is not None and c.code is not None]
        if not with_code:
            return False
        if len(with_code) < CONSENSUS_QUORUM:
            return True
        if tests_task is not None:
            await self._verify_generated(with_code, tests_task)
        return len({agreement_key(c) for c in with_code}) > 1

    def _spawn(self, run: _Run, work: Awaitable[Any], kind: str, cand: Candidate | None) -> None:
        task = asyncio.ensure_future(work)
        run.tasks[task] = (kind, cand)

    def _maybe_generate_tests(self, run: _Run) -> asyncio.Task[list[str]] | None:
        """Model-written tests, requested alongside the candidates, when no trusted tests
        exist: then they are the only signal (consensus). With trusted tests they would
        take slots from candidates for a tie-break that rarely matters."""
        if self.trusted.tests or not self._verifier.available:
            return None
        if not self._settings.test_request_count(self._k):
            return None
        task = asyncio.ensure_future(self._write_tests())
        run.tasks[task] = ("tests", None)
        return task

    def _tie_needs_tests(self, contenders: list[Candidate]) -> bool:
        """Model-written tests asked for late: only when many candidates pass every
        trusted test, so a real choice remains (not when all fail: none is right)."""
        many = self._settings.tie_tests_from
        passing = [c for c in contenders if c.trusted_passed == len(self.trusted.tests)]
        return bool(
            self.trusted.tests
            and many
            and len(passing) >= many
            and self._verifier.available
            and self._settings.test_request_count(self._k)
        )

    def _contenders(self, completed: list[Candidate]) -> list[Candidate]:
        """The candidates consensus must choose among: those with code, tied at the top
        of the trusted-test count."""
        with_code = [c for c in completed if c.code is not None]
        if not self.trusted.tests or not with_code:
            return with_code
        best = max(c.trusted_passed or 0 for c in with_code)
        return [c for c in with_code if (c.trusted_passed or 0) == best]

    async def _collect(self, run: _Run, quorum: int = 1) -> bool:
        """Wait for candidates and their trusted checks. Once `quorum` of them pass every
        trusted test and agree (`_agreeing`), cancel the candidates still being generated
        (early stop), finish checking those already here, and return True."""
        trusted = self.trusted.tests if self._verifier.available else []
        stopped = False
        while True:
            waiting = [t for t, (kind, _) in run.tasks.items() if kind in ("candidate", "verify")]
            if not waiting:
                return stopped
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                kind, candidate = run.tasks.pop(task)
                assert candidate is not None
                if kind == "cancelled" and task.cancelled():
                    continue
                if kind in ("candidate", "cancelled"):  # cancelled after it had finished
                    self._arrived(run, candidate, task)
                    if trusted and candidate.code is not None:
                        check = self._verifier.trusted(candidate.code, trusted)
                        self._spawn(run, check, "verify", candidate)
                else:
                    result = task.result()
                    candidate.trusted_passed, candidate.failures = result.passed, result.failures
                    if candidate.trusted_passed == len(trusted) and not stopped:
                        if await self._agreeing(run, len(trusted)) >= quorum:
                            stopped = True
                            _stop_generating(run)
            self.progress = f"candidates {run.finished}/{len(run.candidates)}"

    async def _agreeing(self, run: _Run, n_trusted: int) -> int:
        """The largest group of candidates that pass every trusted test and return the
        same on the derived inputs (all of them, when there are no derived inputs)."""
        passing = [c for c in run.candidates if c.trusted_passed == n_trusted]
        if len(passing) < 2:
            return len(passing)
        await self._run_derived_inputs(passing)
        return max(Counter(c.derived for c in passing).values())

    def _arrived(self, run: _Run, candidate: Candidate, task: asyncio.Task[Any]) -> None:
        run.finished += 1
        error = task.exception()
        if error is not None:
            if not isinstance(error, EngineError):
                raise error
            candidate.error = error
            return
        candidate.order = run.finished
        if candidate.data is not None:
            run.total = run.total.plus(candidate.usage)

    async def _generate(self, candidate: Candidate) -> None:
        purpose: Purpose = "repair" if candidate.round else "candidate"
        async with self._slots:  # never more at once than the engines' slots
            started = asyncio.get_running_loop().time()
            data = await self._generator.complete(self._body_for(candidate), purpose)
        if candidate.index == REQUESTED:
            self._requested_s = asyncio.get_running_loop().time() - started
        content = first_message_text(data)
        candidate.usage = await self._usage(data, content)
        unread: tuple[str, Code | None] = (content, None)  # the analysis gave up: no code
        completed, candidate.code = await off_loop(
            answer_code,
            unread,
            content,
            self._entry_point,
            self._imports,
            candidate.parent_code,
        )
        if completed != content:
            content, data = completed, with_message_text(data, completed)
        candidate.content = content
        candidate.data = data

    def _over_budget(self) -> bool:
        """More samples would keep the user waiting past the time budget: a multiple of
        what the client's own candidate took, at least `time_budget_min_s` (unknown
        until it is back: no limit)."""
        budget = self._settings.time_budget
        if not budget or self._requested_s is None:
            return False
        elapsed = asyncio.get_running_loop().time() - self._started_at
        return elapsed > max(budget * self._requested_s, self._settings.time_budget_min_s)

    async def _in_a_slot(self, body: dict[str, Any], purpose: Purpose) -> dict[str, Any]:
        async with self._slots:  # never more at once than the engines' slots
            return await self._generator.complete(body, purpose)

    def _repairable(self, run: _Run) -> bool:
        """Repair needs trusted tests to drive it, and a candidate that failed some."""
        if not self.trusted.tests or not self._verifier.available:
            return False
        if any(c.trusted_passed == len(self.trusted.tests) for c in run.candidates):
            return False  # an answer passed (the quorum did not stop the waves): none to fix
        return any(c.code is not None and c.failures for c in run.candidates)

    async def _repair(self, run: _Run, round_number: int) -> bool:
        """One repair round: the most promising failing candidates (most trusted tests
        passed, the client's own first), each sent back with its jail evidence."""
        failing = [
            c
            for c in run.candidates
            if c.code is not None and c.failures and c.round == round_number - 1
        ]
        failing.sort(key=lambda c: (-(c.trusted_passed or 0), c.index != REQUESTED, c.order))
        chosen: list[Candidate] = []
        for candidate in failing:
            if len(chosen) == self._settings.repair_candidates:
                break
            if all(other.code != candidate.code for other in chosen):
                chosen.append(candidate)
        self.progress = f"repair round {round_number}/{self._repair_rounds}"
        returned = await asyncio.gather(*(self._returned_values(parent) for parent in chosen))
        for parent, values in zip(chosen, returned, strict=True):
            index = len(run.candidates)
            repaired = Candidate(
                index,
                self.seed_base + REPAIR_SEED_OFFSET + index,
                round=round_number,
                parent=parent.index,
                parent_code=parent.code.source if parent.code else None,
                conversation=repair_conversation(
                    parent.conversation or self._messages,
                    parent.content,
                    parent.failures,
                    values,
                    self._entry_point,
                ),
            )
            run.candidates.append(repaired)
            self._spawn(run, self._generate(repaired), "candidate", repaired)
        return await self._collect(run)

    async def _returned_values(self, candidate: Candidate) -> list[str | None]:
        """What the calls of the failed bare asserts shown to the model returned, run on
        the candidate in a probe of their own (None where unknown or it raised)."""
        shown = candidate.failures[:MAX_FAILURES_SHOWN]
        calls = [compared_call(failure) for failure in shown]
        probed = [call for call in calls if call is not None]
        if not probed or candidate.code is None:
            return [None] * len(shown)
        result = await self._verifier.generated(candidate.code, probe_tests(probed), 0)
        outputs = iter([*result.outputs, *["!"] * len(probed)])  # none when it did not load
        values = [next(outputs) if call is not None else None for call in calls]
        return [None if v is None or v.startswith("!") else v for v in values]

    async def _usage(self, data: dict[str, Any], content: str) -> Usage:
        try:
            return msgspec.convert(data["usage"], Usage)
        except (KeyError, msgspec.ValidationError):
            return await self._tokens.usage(self.prompt, [content])

    async def _write_tests(self) -> list[str]:
        """Ask the model for asserts; failed requests are skipped, not fatal."""
        count = self._settings.test_request_count(self._k)
        messages = test_request_messages(self.prompt, self._entry_point)
        body = {**self._body, "messages": messages}
        results = await asyncio.gather(
            *(
                self._in_a_slot({**body, "seed": self.seed_base + TEST_SEED_OFFSET + i}, "tests")
                for i in range(count)
            ),
            return_exceptions=True,
        )
        written: Counter[str] = Counter()
        for result in results:
            if isinstance(result, EngineError):
                logger.info("a test-writing request failed: %s", result.message)
                continue
            if isinstance(result, BaseException):
                raise result
            text = first_message_text(result)
            self._tests_usage = self._tests_usage.plus(await self._usage(result, text))
            written.update(await parse_asserts_off_loop(text))
        # Most often written first: they survive the cap and weigh more in CodeT's score.
        ranked = written.most_common()
        self._test_weights = [float(n) for _, n in ranked]
        return [a for a, _ in ranked]

    async def _verify_generated(
        self, contenders: list[Candidate], tests_task: asyncio.Task[list[str]]
    ) -> int:
        """Check the contenders not yet checked on the model-written tests; how many
        asserts there are."""
        if self._suite is None:
            written, count = generated_tests(await tests_task, self._entry_point)
            typed: list[str] = []
            if not self.trusted.tests:  # with them, inputs derive from the examples
                typed = await off_loop(signature_calls, [], self.prompt, self._entry_point)
            self._suite = ([*written, *probe_tests(typed)], count)
        tests, n_asserts = self._suite
        if not tests:
            return 0
        todo = [c for c in contenders if c.code is not None and c.generated is None]
        self.progress = f"verifying {len(todo)} candidates on {n_asserts} generated tests"
        results = await asyncio.gather(
            *(self._verifier.generated(c.code, tests, n_asserts) for c in todo if c.code)
        )
        for candidate, result in zip(todo, results, strict=True):
            candidate.generated = result
        return n_asserts

    async def _run_derived_inputs(self, contenders: list[Candidate]) -> None:
        """Outputs of the tied candidates on inputs next to the visible examples."""
        calls = derived_calls(self.trusted.tests, self._entry_point)
        if not calls or not self._verifier.available:
            return
        self.progress = f"comparing {len(contenders)} candidates on {len(calls)} derived inputs"
        probes = probe_tests(calls)
        python = [
            c
            for c in contenders
            if c.derived is None and c.code is not None and c.code.language == "python"
        ]
        results = await asyncio.gather(
            *(self._verifier.generated(c.code, probes, 0) for c in python if c.code is not None)
        )
        for candidate, result in zip(python, results, strict=True):
            candidate.derived = result.outputs

    async def _decide(
        self, run: _Run, completed: list[Candidate], early: bool, generated: int
    ) -> Outcome:
        if not self._verifier.available or not any(c.code for c in completed):
            first = min(completed, key=lambda c: c.order)
            method = "first" if self._verifier.available else "unverified"
            return self._outcome(run, first, method, generated, early=early)
        evidence = [evidence_of(c) for c in completed]
        await self._rank(self._contenders(completed), evidence)
        chosen = select(evidence, self._test_weights)
        winner = next(c for c in completed if c.index == chosen.winner)
        return self._outcome(run, winner, chosen.method, generated, early=early, evidence=evidence)

    async def _rank(self, completed: list[Candidate], evidence: list[Evidence]) -> None:
        if self._ranker is None or len(completed) < 2:
            return
        codes = [(c.index, c.code.source) for c in completed if c.code is not None]
        try:
            energies = await self._ranker(self.prompt, codes)
        except Exception:  # the ranker is an optimisation: selection goes on without it
            logger.exception("ranker failed; selecting without it")
            return
        for item in evidence:
            item.energy = energies.get(item.index)

    def _outcome(
        self,
        run: _Run,
        winner: Candidate,
        method: str,
        generated: int,
        *,
        early: bool = False,
        evidence: list[Evidence] | None = None,
    ) -> Outcome:
        if self.trusted.tests and self._verifier.available:
            source, count = self.trusted.source, len(self.trusted.tests)
            verified = sum(1 for c in run.candidates if c.trusted_passed == count)
        else:
            source, count = ("generated" if generated else "none"), generated
            verified = sum(
                1
                for c in run.candidates
                if c.generated is not None and generated and len(c.generated.passed) == generated
            )
        scores = {e.index: e.scores for e in evidence or []}
        for candidate in run.candidates:
            candidate.scores = scores.get(candidate.index, {})
        total = run.total.plus(self._tests_usage)
        return Outcome(winner, method, run.candidates, source, count, verified, total, early)


def _stop_generating(run: _Run) -> None:
    """Early stop: cancel the candidate requests still in flight, so upstream slots free;
    all but the client's own, which wins any tie verification cannot break."""
    for task, (kind, candidate) in list(run.tasks.items()):
        if kind == "candidate" and candidate is not None and candidate.index != REQUESTED:
            task.cancel()
            run.tasks[task] = ("cancelled", candidate)


async def _cancel(tasks: dict[asyncio.Task[Any], Any]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        # Shielded: a cancelled caller must not interrupt the clean-up of its upstream calls.
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
