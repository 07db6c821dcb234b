"""Wire requests become the strategies' `Call`: the one conversion, at the edge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from litestar import Request
from msgspec import UNSET

from config import MAX_REPAIR_ROUNDS
from gateway.http.auth import caller_of
from gateway.http.errors import APIError
from gateway.http.middleware import MODEL_SCOPE_KEY
from gateway.http.schemas import (
    AtlasOptions,
    ChatCompletionRequest,
    CompletionRequest,
)
from gateway.protocols.integers import plain_int
from gateway.protocols.messages.request import ChatTranslation
from gateway.protocols.messages.schemas import MessagesRequest
from gateway.strategies.base import Call, Controls, Message
from gateway.strategies.model import ModelGroup
from gateway.wiring.services import Services

K_HEADER = "x-atlas-k"
NO_CONTROLS = Controls()
# Client headers that go upstream (CLIENTS.md): the user agent and the ids clients
# use for session affinity, for llama-server's logs and slot reuse. An allow-list, so
# credentials (authorization, x-api-key, api-key, cookie), hop-by-hop headers and
# anything else a client sends stay here.
FORWARDED = frozenset(
    {
        b"user-agent",
        b"x-session-affinity",
        b"session_id",
        b"session-id",
        b"x-session-id",
        b"thread-id",
        b"x-client-request-id",
        b"x-claude-code-session-id",
        b"x-codex-window-id",
        b"originator",
    }
)


def resolve_model(request: Request[Any, Any, Any], services: Services, name: str) -> ModelGroup:
    """The model a request names (404/503 otherwise, and 404 for a model its API key may
    not use), labelled on its metrics."""
    group = services.model(name, caller_of(request).models)
    request.scope[MODEL_SCOPE_KEY] = group.name  # type: ignore[literal-required]
    return group


def forward_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The request's headers that go upstream (`FORWARDED`), in one pass over the
    ASGI scope's raw headers; a name sent twice goes once, with its first value."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in FORWARDED and name not in found:
            found[name] = value
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in found.items())


def chat_call(
    chat: ChatCompletionRequest,
    raw: bytes,
    group: ModelGroup,
    headers: Mapping[str, str],
    request_id: str,
    forward: tuple[tuple[str, str], ...] = (),
) -> Call:
    return Call(
        endpoint="chat",
        model=group,
        body=raw,
        request_id=request_id,
        requested_model=chat.model,
        prompt_text=chat_prompt_text(chat.messages),
        stream=chat.stream is True,
        include_usage=chat.stream_options is not None and chat.stream_options.include_usage is True,
        n=1 if chat.n is None else int(chat.n),
        seed=plain_int(chat.seed),
        messages=chat.messages,
        has_tools=bool(chat.tools),
        controls=_controls(chat, headers),
        has_extension=chat.atlas is not UNSET,
        forward_headers=forward,
    )


def messages_call(
    request: MessagesRequest,
    chat: ChatTranslation,
    group: ModelGroup,
    headers: Mapping[str, str],
    request_id: str,
    forward: tuple[tuple[str, str], ...] = (),
) -> Call:
    """A Messages request as the chat call it was translated to: the strategies see
    the chat body and chat messages, exactly as if a chat client had sent them. Usage
    is always asked for, so the stream's `message_delta` knows its output tokens."""
    k = _header_k(headers)
    return Call(
        endpoint="chat",
        model=group,
        body=chat.body,
        request_id=request_id,
        requested_model=request.model,
        prompt_text=chat_prompt_text(chat.messages),
        stream=request.stream,
        include_usage=True,
        messages=chat.messages,
        has_tools=chat.has_tools,
        controls=NO_CONTROLS if k is None else Controls(k=k),
        forward_headers=forward,
    )


def completion_call(
    completion: CompletionRequest,
    raw: bytes,
    group: ModelGroup,
    request_id: str,
    forward: tuple[tuple[str, str], ...] = (),
) -> Call:
    if completion.prompt is None:  # the reference's default: an empty document
        completion.prompt = ""
        raw = msgspec.json.encode({**msgspec.json.decode(raw), "prompt": ""})
    return Call(
        endpoint="completions",
        model=group,
        body=raw,
        request_id=request_id,
        requested_model=completion.model,
        prompt_text=completion.prompt if isinstance(completion.prompt, str) else "",
        stream=completion.stream is True,
        include_usage=bool(completion.stream_options and completion.stream_options.include_usage),
        n=1 if completion.n is None else int(completion.n),
        seed=plain_int(completion.seed),
        infill=_wants_infill(group, completion),
        forward_headers=forward,
    )


def _controls(chat: ChatCompletionRequest, headers: Mapping[str, str]) -> Controls:
    atlas = chat.atlas if isinstance(chat.atlas, AtlasOptions) else None
    k = plain_int(atlas.k) if atlas is not None else None
    if k is None:
        k = _header_k(headers)
    if atlas is None:
        return NO_CONTROLS if k is None else Controls(k=k)
    if atlas.repair is not None and not 0 <= atlas.repair <= MAX_REPAIR_ROUNDS:
        raise APIError(
            400,
            f"atlas.repair must be between 0 and {MAX_REPAIR_ROUNDS}",
            param="atlas.repair",
            code="invalid_value",
        )
    return Controls(
        k=k,
        debug=atlas.debug is True,
        tests=atlas.tests,
        repair=plain_int(atlas.repair),
        hints=atlas.hints,
        cache=atlas.cache is not False,
    )


def _header_k(headers: Mapping[str, str]) -> int | None:
    if K_HEADER not in headers:
        return None
    try:
        return int(headers[K_HEADER])
    except ValueError:
        raise APIError(
            400, f"{K_HEADER} must be an integer", param=K_HEADER, code="invalid_value"
        ) from None


def _wants_infill(group: ModelGroup, completion: CompletionRequest) -> bool:
    if completion.suffix is None or group.settings.kind != "llama-server":
        return False
    if not isinstance(completion.prompt, str):
        raise APIError(
            400,
            "a completion with `suffix` needs `prompt` to be one string",
            param="prompt",
            code="invalid_value",
        )
    return True


def chat_prompt_text(messages: Sequence[Message]) -> str:
    """The text of chat messages, for an estimate of prompt tokens."""
    parts: list[str] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)
