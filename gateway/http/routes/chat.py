"""POST /v1/chat/completions: decode, resolve the model, build the call, answer."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from gateway.http.answer import answer
from gateway.http.calls import chat_call, forward_headers, resolve_model
from gateway.http.requests import check_n, decode_request
from gateway.http.schemas import ChatCompletionRequest
from gateway.http.state import ServicesRef
from gateway.telemetry.request_ids import request_id_var

PATH = "/v1/chat/completions"
PATHS = [PATH, PATH.removeprefix("/v1")]  # also without /v1: the same route


def chat_handler(ref: ServicesRef) -> Any:
    @post(PATHS, status_code=200)
    async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
        services = ref.get()
        raw = await request.body()
        chat = decode_request(raw, ChatCompletionRequest)
        check_n(chat.n)
        group = resolve_model(request, services, chat.model)
        forward = forward_headers(request.scope["headers"])
        call = chat_call(chat, raw, group, request.headers, request_id_var.get(), forward)
        return await answer(request, services, call, ref.drain)

    return chat_completions
