"""Request traces: what the admin UI's traces page shows of each answer.

The Structs only; they are kept in Redis, shared by every replica
(`gateway/wiring/trace_store.py`: buffered in memory, written off the request path, the
last `DEFAULT_CAPACITY` kept). Prompt and answer text are kept only while capture is on
(an admin turns it on in the UI), cut to `TEXT_CHARS`, and never logged.
"""

from __future__ import annotations

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
    id: int = 0  # set by the store: the stream entry's number
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


def cut_text(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + " [...]"
