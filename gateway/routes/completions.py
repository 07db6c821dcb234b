"""POST /v1/completions, with `suffix` sent to llama-server's /infill."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream

from gateway.errors import APIError
from gateway.infill import INFILL_PATH, InfillTranslator, infill_body
from gateway.observability import MODEL_SCOPE_KEY, request_id_var
from gateway.passthrough import UpstreamCall, forward_json, upstream_bodies
from gateway.requests import check_n, decode_request, json_response, sse_headers, until_disconnect
from gateway.schemas import CompletionRequest
from gateway.services import ModelGroup, Services
from gateway.streaming import relay_call

PATH = "/v1/completions"
ROUTE_HEADERS = {"x-atlas-route": "fast", "x-atlas-k": "1"}


def completions_handler(services: Services) -> Any:
    @post(PATH, status_code=200)
    async def completions(request: Request[Any, Any, Any]) -> Response[Any]:
        raw = await request.body()
        completion = decode_request(raw, CompletionRequest)
        check_n(completion.n)
        group = services.model(completion.model)
        request.scope[MODEL_SCOPE_KEY] = group.name  # type: ignore[literal-required]
        infill = _wants_infill(group, completion)
        translator = InfillTranslator(completion.model, request_id_var.get()) if infill else None
        call = _upstream_call(group, completion, raw, infill)
        if completion.stream:
            chunks = await relay_call(
                services.dispatcher,
                call,
                services.tokens,
                keepalive_s=services.settings.server.keepalive_interval_s,
                include_usage=bool(
                    completion.stream_options and completion.stream_options.include_usage
                ),
                usage_template={"object": "text_completion", "model": completion.model},
                translate=translator.chunk if translator else None,
            )
            return Stream(
                chunks, media_type="text/event-stream", headers=sse_headers(ROUTE_HEADERS)
            )
        translate = translator.completion if translator else None
        content, _ = await until_disconnect(
            request, forward_json(services.dispatcher, call, services.tokens, translate)
        )
        return json_response(content, ROUTE_HEADERS)

    return completions


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


def _upstream_call(
    group: ModelGroup, completion: CompletionRequest, raw: bytes, infill: bool
) -> UpstreamCall:
    changes: dict[str, Any] = {}
    if group.settings.upstream_model:
        changes["model"] = group.settings.upstream_model
    if completion.stream and not infill:
        changes["stream_options"] = {"include_usage": True}
    bodies = upstream_bodies(raw, n=completion.n, seed=completion.seed, changes=changes, drop=())
    if infill:
        bodies = [infill_body(body) for body in bodies]
    prompt = completion.prompt if isinstance(completion.prompt, str) else ""
    return UpstreamCall(
        pool=group.generation,
        path=INFILL_PATH if infill else PATH,
        bodies=bodies,
        headers=group.upstream_headers(request_id_var.get()),
        prompt_text=prompt,
    )
