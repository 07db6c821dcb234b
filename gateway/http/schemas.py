"""Wire schemas. Requests are decoded only to validate and read what the gateway
needs; the raw body is what gets forwarded, so llama-server's own fields survive."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(msgspec.Struct, kw_only=True):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class AtlasOptions(msgspec.Struct, kw_only=True):
    """The `atlas` extension field of a request; never forwarded upstream."""

    k: int | None = None
    debug: bool = False
    tests: list[Any] | None = None
    repair: int | None = None  # repair rounds; None: the model's setting


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None
    atlas: AtlasOptions | None = None


class CompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    # A string, strings, token ids or lists of token ids: checked by the upstream.
    prompt: str | list[Any]
    suffix: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None


class EmbeddingRequest(msgspec.Struct, kw_only=True):
    model: str
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] | None = None


class ModelCard(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "atlas"


class ModelList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelCard]
