"""Checking that an upstream's answer is the API before anything of it goes on.

Each answer is decoded once, into the smallest view the gateway needs (which is the
check: msgspec validates the whole document, and the fields the view names). A body
that is not JSON, or not the shape of the endpoint's answer, becomes an
`UpstreamProtocolError` tagged with its upstream: a 502 `upstream_error` for the
client, or one failed candidate for best-of-k. A 200 never carries HTML on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engines import UpstreamProtocolError, UpstreamReply
from gateway.strategies.views import ChunkView, CompletionView, Usage

# A stream answer that is not this is refused before the client sees a byte.
EVENT_STREAM = "text/event-stream"
_SNIPPET = 120


def not_the_api(
    what: str, error: Exception | str, body: bytes | str, upstream: str | None
) -> UpstreamProtocolError:
    """The error for an answer that is not `what`, quoting the start of the body."""
    raw = body.encode() if isinstance(body, str) else body
    snippet = raw[:_SNIPPET].decode("utf-8", "replace")
    return UpstreamProtocolError(
        f"upstream answered with something that is not {what} ({error}): {snippet!r}",
        upstream=upstream,
    )


_completion = msgspec.json.Decoder(CompletionView)


def completion_view(body: bytes, upstream: str | None) -> CompletionView:
    """A chat or text completion's choices and usage; raises if it is not one."""
    try:
        return _completion.decode(body)
    except msgspec.DecodeError as exc:
        raise not_the_api("a completion", exc, body, upstream) from None


class _ChatMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _ChatChoice(msgspec.Struct):
    message: _ChatMessage | None = None
    finish_reason: str | None = None


class _ChatCompletion(msgspec.Struct):
    choices: list[_ChatChoice]
    usage: dict[str, Any] | None = None


def chat_completion(reply: UpstreamReply) -> dict[str, Any]:
    """A whole chat completion, decoded, for strategies that read it as a dict (best-of-k):
    checked first, so that every field they read has the type they expect."""
    try:
        data: Any = msgspec.json.decode(reply.body)
        msgspec.convert(data, _ChatCompletion)
    except msgspec.DecodeError as exc:  # ValidationError is one too
        raise not_the_api("a chat completion", exc, reply.body, reply.upstream) from None
    result: dict[str, Any] = data
    return result


class _Embedding(msgspec.Struct):
    embedding: msgspec.Raw  # a list of floats or base64: checked as JSON, never built


class _Embeddings(msgspec.Struct):
    data: list[_Embedding]
    usage: Usage | None = None


_embeddings = msgspec.json.Decoder(_Embeddings)


def check_embeddings(reply: UpstreamReply) -> bytes:
    """The body of an embeddings answer, once it is one."""
    try:
        _embeddings.decode(reply.body)
    except msgspec.DecodeError as exc:
        raise not_the_api("an embeddings answer", exc, reply.body, reply.upstream) from None
    return reply.body


_chunk = msgspec.json.Decoder(ChunkView)


def chunk_view(data: str, upstream: str | None) -> ChunkView:
    """One stream event's choices and usage; raises if it is not a chunk, or reports an
    error in the stream."""
    try:
        view = _chunk.decode(data)
    except msgspec.DecodeError as exc:
        raise not_the_api("a JSON stream chunk", exc, data, upstream) from None
    if view.error is not None:
        message = view.error.get("message") if isinstance(view.error, dict) else view.error
        raise UpstreamProtocolError(f"upstream stream error: {message}", upstream=upstream)
    if view.choices is None and view.usage is None:
        raise not_the_api("a stream chunk", "no choices", data, upstream)
    return view


def check_event_stream(content_type: str, upstream: str | None) -> None:
    """A stream request must be answered with a stream: anything else (a JSON answer, an
    HTML error page) is refused while the client can still get a status."""
    if content_type and not content_type.startswith(EVENT_STREAM):
        raise UpstreamProtocolError(
            f"upstream answered a stream request with {content_type!r}, not {EVENT_STREAM}",
            upstream=upstream,
        )


def one_line(data: str) -> str:
    """A validated JSON payload as one line: raw CR and LF can only be whitespace between
    its tokens (JSON strings escape them), so they go, and the `data:` framing holds."""
    if "\n" in data or "\r" in data:
        return data.replace("\r", "").replace("\n", "")
    return data


__all__ = [
    "EVENT_STREAM",
    "chat_completion",
    "check_embeddings",
    "check_event_stream",
    "chunk_view",
    "completion_view",
    "not_the_api",
    "one_line",
]
