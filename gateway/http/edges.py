"""How an answer leaves in the wire protocol its request came in.

Strategies speak chat completions only: a Responses or Messages request is translated
to a chat `Call` once, at the edge, and its answer (a chat completion, or the events of
a chat stream) is translated back here, once, on the way out."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Protocol

from gateway.drain import Drain
from gateway.http.sse import sse_frames
from gateway.strategies.base import Event, Report


class Edge(Protocol):
    def answer_body(self, chat_answer: bytes) -> bytes:
        """The protocol's JSON answer for a chat completion (a checked upstream answer,
        bounded by the request's max tokens)."""
        ...

    def frames(
        self,
        events: AsyncGenerator[Event, None],
        on_report: Callable[[Report], None],
        drain: Drain | None,
    ) -> AsyncGenerator[bytes, None]:
        """The protocol's SSE bytes for a chat stream's events; never a cut stream."""
        ...


class ChatEdge:
    """Chat completions and completions: the strategies' own shape goes out as it is."""

    def answer_body(self, chat_answer: bytes) -> bytes:
        return chat_answer

    def frames(
        self,
        events: AsyncGenerator[Event, None],
        on_report: Callable[[Report], None],
        drain: Drain | None,
    ) -> AsyncGenerator[bytes, None]:
        return sse_frames(events, on_report, drain)


CHAT_EDGE = ChatEdge()
