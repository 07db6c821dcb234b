"""The strategy interface: what every way of answering a generation request shares.

A strategy (pass-through, best-of-k, later the router, the cache, repair rounds)
receives a `Call` built once at the HTTP edge and either runs it to an `Answer` or
streams it as `Event`s. It knows nothing of litestar or HTTP: failures are domain
errors (engines.EngineError, gateway.strategies.errors) that one table at the edge
maps to OpenAI errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


@dataclass(frozen=True, slots=True)
class Controls:
    """The client's `atlas` extension and `x-atlas-k` header, read once at the edge."""

    k: int | None = None
    debug: bool = False
    tests: list[Any] | None = None


@dataclass(frozen=True, slots=True)
class Call:
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
    controls: Controls = field(default_factory=Controls)
    has_extension: bool = False  # the body carries `atlas`, which never goes upstream
    infill: bool = False  # a completion with `suffix`, sent to llama-server's /infill


@dataclass(frozen=True, slots=True)
class LabelledCode:
    code: str
    passed: bool


@dataclass(frozen=True, slots=True)
class Lessons:
    """What a verified answer taught: candidates labelled by the sandbox, for the Lens."""

    problem: str
    source: TestSource
    labelled: tuple[LabelledCode, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes  # the OpenAI-shaped JSON answer
    usage: Usage  # tokens spent on the whole answer, for metrics and billing
    headers: Mapping[str, str] = field(default_factory=dict)
    lessons: Lessons | None = None


# Events of a streamed answer. The edge frames them as SSE; the stream ends with
# exactly one End or Failure.
@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes  # one JSON payload, sent as `data: ...`


@dataclass(frozen=True, slots=True)
class Comment:
    text: str  # a comment line: keep-alive or progress


@dataclass(frozen=True, slots=True)
class Failure:
    error: EngineError  # after the headers: an error event, then [DONE]


@dataclass(frozen=True, slots=True)
class End:
    usage: Usage
    lessons: Lessons | None = None


Event = Chunk | Comment | Failure | End


@dataclass(frozen=True, slots=True)
class EventStream:
    """An opened stream: the upstream side accepted, so headers can go out."""

    headers: Mapping[str, str]
    events: AsyncIterator[Event]


class Strategy(Protocol):
    async def run(self, call: Call) -> Answer:
        """Answer as one JSON document; raises domain errors."""
        ...

    async def stream(self, call: Call) -> EventStream:
        """Open the stream. Errors before it opens raise (and get an HTTP status);
        after that they arrive as a Failure event."""
        ...
