"""How an answer leaves in the wire protocol its request came in.

Strategies speak chat completions only: a Responses or Messages request is translated
to a chat `Call` once, at the edge, and its answer (a chat completion, or the events of
a chat stream) is translated back here, once, on the way out."""

from __future__ import annotations

from typing import Protocol

from gateway.http.sse import CHAT_FRAMER, Framer


class Edge(Protocol):
    def answer_body(self, chat_answer: bytes) -> bytes:
        """The protocol's JSON answer for a chat completion (a checked upstream answer,
        bounded by the request's max tokens)."""
        ...

    def framer(self) -> Framer:
        """A framer for one stream: the protocol's SSE frames for chat chunks."""
        ...


class ChatEdge:
    """Chat completions and completions: the strategies' own shape goes out as it is."""

    def answer_body(self, chat_answer: bytes) -> bytes:
        return chat_answer

    def framer(self) -> Framer:
        return CHAT_FRAMER


CHAT_EDGE = ChatEdge()
