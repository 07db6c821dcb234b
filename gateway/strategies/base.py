"""The strategy interface: what every way of answering a generation request shares.

A strategy (pass-through, best-of-k, later the router, the cache, repair rounds)
receives a `Call` built once at the HTTP edge and either runs it to an `Answer` or
streams it as `Event`s. It knows nothing of litestar or HTTP: failures are domain
errors (engines.EngineError, gateway.strategies.errors) that one table at the edge
maps to OpenAI errors.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal, Protocol

import msgspec

from engines import EngineError
from gateway.strategies.model import ModelGroup
from gateway.strategies.views import Usage

Endpoint = Literal["chat", "completions"]
TestSource = Literal["request", "prompt", "generated"]


class Message(Protocol):
    """A chat message as the edge decoded it; strategies read only these two fields."""

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str | list[dict[str, Any]] | None: ...


# msgspec Structs rather than dataclasses: built on every request (and every stream
# chunk), they construct about ten times faster.
class Controls(msgspec.Struct, frozen=True, kw_only=True):
    """The client's `atlas` extension and `x-atlas-k` header, read once at the edge."""

    k: int | None = None
    debug: bool = False
    tests: list[Any] | None = None
    repair: int | None = None  # repair rounds asked for; None: the model's setting
    hints: bool | None = None  # strategy hints on a routed search; None: the model's setting
    cache: bool = True  # False: the pattern cache is neither read for a hit nor stored into


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """One generation request, decoded and resolved: all a strategy needs to answer it."""

    endpoint: Endpoint
    model: ModelGroup
    # The client's JSON body: forwarded with as few changes as possible, so upstream
    # extensions (llama-server's cache_prompt, grammar, ...) survive.
    body: bytes
    request_id: str
    requested_model: str  # the name the client used, for usage chunks
    prompt_text: str  # for token estimates when an upstream reports no usage
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    seed: int | None = None
    messages: Sequence[Message] = ()
    has_tools: bool = False
    controls: Controls = msgspec.field(default_factory=Controls)
    has_extension: bool = False  # the body carries `atlas`, which never goes upstream
    infill: bool = False  # a completion with `suffix`, sent to llama-server's /infill
    # The client's user agent and session ids, sent upstream with every request of
    # the call (llama-server's logs, slot affinity); never credentials. Built once at
    # the edge (`http/calls.py` `forward_headers`).
    forward_headers: tuple[tuple[str, str], ...] = ()
    # Who asked, set by the edge once the key is known: `key_id` is whom the usage
    # ledger bills (an API key's id, `master` or `anonymous`), `tenant` the key's owner
    # (the scope of what is learnt from its requests; the key id when it has none).
    key_id: str = "anonymous"
    tenant: str = "anonymous"


class LabelledCode(msgspec.Struct, frozen=True):
    code: str
    passed: bool


class Lessons(msgspec.Struct, frozen=True):
    """What a verified answer taught: candidates labelled by the sandbox, for the Lens."""

    problem: str
    source: TestSource
    labelled: tuple[LabelledCode, ...]


class CandidateVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """One best-of-k candidate as the request's trace shows it."""

    index: int
    round: int = 0
    verdict: str  # passed, failed, error, skipped, unchecked
    passed: int | None = None  # trusted tests passed
    error: str | None = None
    winner: bool = False


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What a search decided, for the request's trace: the tests it used and their
    source, each candidate's verdict and why the winner won."""

    selection: str
    tests_source: str
    tests_count: int
    candidates: tuple[CandidateVerdict, ...] = ()


class Served(msgspec.Struct, frozen=True, kw_only=True):
    """How an answer was made, for the usage ledger: the route and k its x-atlas-*
    headers show, whether the answer returned passed trusted tests, and that answer's
    own tokens when the usage counts more (best-of-k: every candidate)."""

    route: str = "fast"
    k: int = 1
    verified: bool = False
    returned: Usage | None = None  # None: the usage is the returned answer's own
    decision: Decision | None = None  # best-of-k's, for the trace

    def answer_usage(self, usage: Usage) -> Usage:
        return usage if self.returned is None else self.returned


PASSED_THROUGH = Served()


class Answer(msgspec.Struct, frozen=True):
    body: bytes  # the OpenAI-shaped JSON answer
    usage: Usage  # tokens spent on the whole answer, for metrics and billing
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    lessons: Lessons | None = None
    served: Served = PASSED_THROUGH


# Events of a streamed answer. The edge frames them as SSE. A stream that succeeds
# yields one Report (as soon as its cost is known, before the last chunks go out, so
# a client leaving during the replay is still accounted for) and ends with Done; one
# that fails after the headers ends with Failure.
class Chunk(msgspec.Struct, frozen=True):
    data: bytes  # one JSON payload, sent as `data: ...`


class Comment(msgspec.Struct, frozen=True):
    text: str  # a comment line: keep-alive or progress


class Failure(msgspec.Struct, frozen=True):
    error: EngineError  # after the headers: an error event, then [DONE]


class Report(msgspec.Struct, frozen=True):
    usage: Usage  # sends nothing: handed to the feedback hook
    lessons: Lessons | None = None
    served: Served = PASSED_THROUGH


class Done(msgspec.Struct, frozen=True):
    pass  # `data: [DONE]`


DONE = Done()
Event = Chunk | Comment | Report | Failure | Done


class EventStream(msgspec.Struct, frozen=True):
    """An opened stream: the upstream side accepted, so headers can go out."""

    headers: Mapping[str, str]
    events: AsyncGenerator[Event, None]


class Strategy(Protocol):
    async def run(self, call: Call) -> Answer:
        """Answer as one JSON document; raises domain errors."""
        ...

    async def stream(self, call: Call) -> EventStream:
        """Open the stream. Errors before it opens raise (and get an HTTP status);
        after that they arrive as a Failure event."""
        ...
