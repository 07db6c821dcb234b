"""Wire schemas. Requests are decoded only to validate and read what the gateway
needs; the raw body is what gets forwarded, so llama-server's own fields survive.

As in OpenAI's reference (openai-openapi, `CreateChatCompletionRequest` and friends),
`null` stands for the default wherever the reference makes a field nullable; the
edge (`http/calls.py`) reads None as that default. `Integer` fields also take an
integral float (`"max_tokens": 1024.0`, as JavaScript clients may send); `1.5` is a
400 that names the field. llama-server reads both the same way (a null is its
default, a float is converted), so the raw body goes upstream as it came.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from gateway.protocols.integers import Integer

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(msgspec.Struct, kw_only=True):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None  # null or absent: no usage chunk


class AtlasOptions(msgspec.Struct, kw_only=True):
    """The `atlas` extension field of a request; never forwarded upstream."""

    k: Integer | None = None
    debug: bool | None = None
    tests: list[Any] | None = None
    repair: Integer | None = None  # repair rounds; None: the model's setting
    hints: bool | None = None  # strategy hints (router); None: the model's setting
    cache: bool | None = None  # false: no pattern-cache hit and nothing stored


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: Integer | None = None
    seed: Integer | None = None
    temperature: float | None = None
    max_tokens: Integer | None = None
    # Not nullable in the reference, but sent as null by clients that build the body
    # from optional settings; null is no tools.
    tools: list[dict[str, Any]] | None = None
    # UNSET: absent. `"atlas": null` is no extension, but the key is still dropped
    # before the body goes upstream.
    atlas: AtlasOptions | UnsetType | None = UNSET


class CompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    # A string, strings, token ids or lists of token ids: checked by the upstream.
    # Nullable in the reference (its default is the empty document): null is sent
    # upstream as "".
    prompt: str | list[Any] | None
    suffix: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: Integer | None = None
    seed: Integer | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: Integer | None = None
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
