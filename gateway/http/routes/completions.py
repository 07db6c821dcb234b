"""POST /v1/completions, with `suffix` sent to llama-server's /infill."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from gateway.http.answer import answer
from gateway.http.calls import completion_call, forward_headers, resolve_model
from gateway.http.requests import check_n, decode_request
from gateway.http.schemas import CompletionRequest
from gateway.http.state import ServicesRef
from gateway.telemetry.request_ids import request_id_var

PATH = "/v1/completions"
PATHS = [PATH, PATH.removeprefix("/v1")]  # also without /v1: the same route


def completions_handler(ref: ServicesRef) -> Any:
    @post(PATHS, status_code=200)
    async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
        services = ref.get()
        raw = await request.body()
        completion = decode_request(raw, CompletionRequest)
        check_n(completion.n)
        group = resolve_model(request, services, completion.model)
        forward = forward_headers(request.scope["headers"])
        call = completion_call(completion, raw, group, request_id_var.get(), forward)
        return await answer(request, services, call, ref.drain)

    return completions
