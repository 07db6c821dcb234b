"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API.

The request is translated once into a chat call (`gateway.protocols.messages`), so
every strategy (pass-through, best-of-k, the router) answers it as it answers chat;
`MessagesEdge` translates the answer back. Errors on these paths go out in
Anthropic's shape (`errors.error_response`). Claude Code's `?beta=true` and
`anthropic-beta` header change nothing here and are accepted as they are."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from gateway.http.answer import answer
from gateway.http.calls import forward_headers, messages_call, resolve_model
from gateway.http.errors import APIError
from gateway.http.messages_edge import MessagesEdge
from gateway.http.requests import decode_request, json_response
from gateway.http.state import ServicesRef
from gateway.protocols.messages.answer import new_message_id
from gateway.protocols.messages.request import chat_messages, chat_tools, counted_text, to_chat
from gateway.protocols.messages.schemas import CountTokensRequest, MessagesRequest, TokenCount
from gateway.strategies.tokens import TokenCounter
from gateway.telemetry.request_ids import request_id_var

PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


def messages_handlers(ref: ServicesRef) -> list[Any]:
    tokens = TokenCounter()

    @post(PATH, status_code=200)
    async def messages(request: Request[Any, Any, Any]) -> Response[Any]:
        services = ref.get()
        raw = await request.body()
        wire = decode_request(raw, MessagesRequest)
        _check(wire)
        group = resolve_model(request, services, wire.model)
        chat = to_chat(wire)
        forward = forward_headers(request.scope["headers"])
        call = messages_call(wire, chat, group, request.headers, request_id_var.get(), forward)
        edge = MessagesEdge(model=wire.model, message_id=new_message_id())
        return await answer(request, services, call, ref.drain, edge)

    @post(COUNT_TOKENS_PATH, status_code=200)
    async def count_tokens(request: Request[Any, Any, Any]) -> Response[Any]:
        """The gateway's own estimate (cl100k_base), not the upstream's tokenizer: the
        engines offer none, and a count must not hold a generation slot."""
        services = ref.get()
        wire = decode_request(await request.body(), CountTokensRequest)
        resolve_model(request, services, wire.model)
        messages = chat_messages(wire.system, wire.messages)
        count = await tokens.count(counted_text(messages, chat_tools(wire.tools)))
        return json_response(msgspec.json.encode(TokenCount(input_tokens=count)))

    return [messages, count_tokens]


def _check(wire: MessagesRequest) -> None:
    if wire.max_tokens < 1:
        raise APIError(
            400, "max_tokens must be at least 1", param="max_tokens", code="invalid_value"
        )
    if not wire.messages:
        raise APIError(
            400, "messages must hold at least one message", param="messages", code="invalid_value"
        )
