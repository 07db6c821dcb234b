"""Request traces: the last answers of this process, for the admin UI's traces page.

A bounded ring in memory (`collections.deque(maxlen=...)`): `record` appends one small
Struct and never awaits or does I/O, so it costs the request path about a microsecond,
and the oldest trace falls out when the ring is full. Traces are per process (each
replica shows its own) and are lost at restart; the usage ledger is the durable record.

Prompt and answer text are kept only while `capture_text` is on (an admin turns it on
in the UI; off at every start), cut to `TEXT_CHARS`, and never logged.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable

import msgspec

DEFAULT_CAPACITY = 1000
TEXT_CHARS = 4000  # of a prompt or an answer, when text capture is on


class TraceCandidate(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    round: int = 0  # 0: one of the k; r > 0: made in repair round r
    verdict: str  # passed, failed, error, skipped, unchecked
    passed: int | None = None  # trusted tests passed
    error: str | None = None
    winner: bool = False


class Trace(msgspec.Struct, frozen=True, kw_only=True):
    id: int = 0  # set by the ring
    request_id: str
    at: float  # Unix seconds, when the answer's cost was known
    model: str
    route: str
    k: int = 1
    stream: bool = False
    key_id: str | None = None
    user_id: str | None = None
    verified: bool = False
    selection: str | None = None  # why the winner won (best-of-k)
    tests_source: str | None = None  # request, prompt, generated, none
    tests_count: int = 0
    candidates: tuple[TraceCandidate, ...] = ()
    prompt_tokens: int = 0  # of the answer returned
    completion_tokens: int = 0
    generated_tokens: int = 0  # every candidate, test-writing and repair request
    latency_ms: float | None = None
    prompt_text: str | None = None  # only with capture_text on
    answer_text: str | None = None


class TraceRing:
    """The last `capacity` traces, newest last; ids count up from 1."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._traces: deque[Trace] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self.capture_text = False

    @property
    def capacity(self) -> int:
        return self._traces.maxlen or 0

    def __len__(self) -> int:
        return len(self._traces)

    def record(self, trace: Trace) -> Trace:
        stored = msgspec.structs.replace(trace, id=next(self._ids))
        self._traces.append(stored)
        return stored

    def recent(self, limit: int, keep: Callable[[Trace], bool] | None = None) -> list[Trace]:
        """Up to `limit` traces, newest first, those `keep` accepts."""
        found: list[Trace] = []
        for trace in reversed(self._traces):
            if keep is None or keep(trace):
                found.append(trace)
                if len(found) >= limit:
                    break
        return found

    def get(self, trace_id: int) -> Trace | None:
        # Ids are consecutive within the ring, so the position follows from the first.
        if not self._traces:
            return None
        position = trace_id - self._traces[0].id
        if 0 <= position < len(self._traces):
            return self._traces[position]
        return None


def cut_text(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + " [...]"
