"""POST /v1/responses: the Responses API, translated to a chat call at the edge."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from gateway.http.answer import answer
from gateway.http.calls import chat_call, forward_headers, resolve_model
from gateway.http.errors import APIError
from gateway.http.requests import decode_request
from gateway.http.responses_edge import ResponsesEdge
from gateway.http.schemas import ChatCompletionRequest
from gateway.http.state import ServicesRef
from gateway.protocols.responses.request import chat_body
from gateway.protocols.responses.schemas import ResponsesRequest
from gateway.telemetry.request_ids import request_id_var

PATH = "/v1/responses"


def responses_handlers(ref: ServicesRef) -> list[Any]:
    @post(PATH, status_code=200)
    async def create_response(request: Request[Any, Any, Any]) -> Response[Any]:
        services = ref.get()
        wire = decode_request(await request.body(), ResponsesRequest)
        chat_raw = msgspec.json.encode(chat_body(wire))
        chat = decode_request(chat_raw, ChatCompletionRequest)
        group = resolve_model(request, services, chat.model)
        forward = forward_headers(request.scope["headers"])
        call = chat_call(chat, chat_raw, group, request.headers, request_id_var.get(), forward)
        return await answer(request, services, call, ref.drain, ResponsesEdge(wire))

    @get(f"{PATH}/{{response_id:str}}")
    async def retrieve_response(response_id: FromPath[str]) -> None:
        # Said plainly, so a client that relies on stored responses learns why at once.
        raise APIError(
            404,
            f"no response {response_id!r}: ATLAS does not store responses "
            "(send the whole conversation in `input`)",
            param="response_id",
            code="not_found",
        )

    return [create_response, retrieve_response]
