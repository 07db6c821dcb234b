"""The four collaborators best-of-k needs, as protocols: unit tests drive the search with
in-memory fakes of them, the gateway with the upstreams, the sandbox and the Lens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, Protocol

from gateway.strategies.best_of_k.verification import Code, GeneratedResult, TrustedResult
from gateway.strategies.views import Usage
from sandbox import TestCase

# Sent upstream as x-atlas-purpose; the pool's fair queue ranks them (engines.Priority).
Purpose = Literal["candidate", "tests", "repair"]

# (problem text, [(candidate index, code)]) -> {candidate index: energy}; lower is better.
Ranker = Callable[[str, list[tuple[int, str]]], Awaitable[dict[int, float]]]


class Generator(Protocol):
    async def complete(self, body: dict[str, Any], purpose: Purpose) -> dict[str, Any]:
        """One chat completion for `body`, decoded; raises engines.EngineError."""
        ...


class Verifier(Protocol):
    @property
    def available(self) -> bool: ...

    async def trusted(self, code: Code, tests: list[TestCase]) -> TrustedResult:
        """How many of the trusted tests the code passes, and how the others failed."""
        ...

    async def generated(self, code: Code, tests: list[TestCase], n_asserts: int) -> GeneratedResult:
        """Pass set over model-written asserts, and outputs of their probes."""
        ...


class UsageCounter(Protocol):
    async def usage(self, prompt_text: str, completion_texts: Iterable[str]) -> Usage: ...
