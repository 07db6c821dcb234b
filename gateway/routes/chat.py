"""POST /v1/chat/completions: decode, resolve the model, run pass-through, answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream

from engines.errors import EngineError
from gateway.best_of_k import BestOfK, Outcome
from gateway.observability import MODEL_SCOPE_KEY, request_id_var
from gateway.passthrough import UpstreamCall, forward_json, upstream_bodies
from gateway.requests import (
    check_n,
    decode_request,
    json_response,
    sse_headers,
    until_disconnect,
)
from gateway.routing import requested_k, use_best_of_k
from gateway.schemas import ChatCompletionRequest, Usage
from gateway.services import ModelGroup, Services
from gateway.streaming import DONE, error_event, relay_call
from gateway.usage import chat_prompt_text
from gateway.winner import outcome_headers, winner_chunks, winner_json

PATH = "/v1/chat/completions"
ROUTE_HEADERS = {"x-atlas-route": "fast", "x-atlas-k": "1"}


def chat_handler(services: Services) -> Any:
    @post(PATH, status_code=200)
    async def chat_completions(request: Request[Any, Any, Any]) -> Response[Any]:
        raw = await request.body()
        chat = decode_request(raw, ChatCompletionRequest)
        check_n(chat.n)
        group = services.model(chat.model)
        request.scope[MODEL_SCOPE_KEY] = group.name  # type: ignore[literal-required]
        k, forced = requested_k(chat, request.headers, group.settings.best_of_k)
        prompt = chat_prompt_text(chat.messages)
        if use_best_of_k(chat, k, forced, prompt):
            strategy = BestOfK(
                services,
                group,
                chat,
                raw,
                k,
                request_id_var.get(),
                ranker=services.ranker(group),
            )
            if chat.stream:
                return _best_of_k_stream(services, group, chat, strategy, k)
            outcome = await until_disconnect(request, strategy.execute())
            _finished(services, group, strategy, outcome)
            debug = chat.atlas is not None and chat.atlas.debug
            return json_response(winner_json(outcome, debug), outcome_headers(outcome, k))
        call = _upstream_call(group, chat, raw, prompt)
        if chat.stream:
            return await _stream(services, group, chat, call)
        content, usage = await until_disconnect(
            request, forward_json(services.dispatcher, call, services.tokens)
        )
        _count(services, group, usage)
        return json_response(content, ROUTE_HEADERS)

    return chat_completions


def _upstream_call(
    group: ModelGroup, chat: ChatCompletionRequest, raw: bytes, prompt: str
) -> UpstreamCall:
    changes: dict[str, Any] = {}
    if group.settings.upstream_model:
        changes["model"] = group.settings.upstream_model
    if chat.stream:
        # Always ask for usage so the gateway can count tokens; the usage chunk
        # reaches the client only if it asked for it.
        changes["stream_options"] = {"include_usage": True}
    drop = ("atlas",) if chat.atlas is not None else ()
    bodies = upstream_bodies(raw, n=chat.n, seed=chat.seed, changes=changes, drop=drop)
    return UpstreamCall(
        pool=group.generation,
        path=PATH,
        bodies=bodies,
        headers=group.upstream_headers(request_id_var.get()),
        prompt_text=prompt,
    )


async def _stream(
    services: Services, group: ModelGroup, chat: ChatCompletionRequest, call: UpstreamCall
) -> Stream:
    chunks = await relay_call(
        services.dispatcher,
        call,
        services.tokens,
        keepalive_s=services.settings.server.keepalive_interval_s,
        include_usage=chat.stream_options is not None and chat.stream_options.include_usage,
        usage_template={"object": "chat.completion.chunk", "model": chat.model},
        on_usage=lambda usage: _count(services, group, usage),
    )
    return Stream(chunks, media_type="text/event-stream", headers=sse_headers(ROUTE_HEADERS))


def _count(services: Services, group: ModelGroup, usage: Usage) -> None:
    services.metrics.tokens.labels(group.name, "prompt").inc(usage.prompt_tokens)
    services.metrics.tokens.labels(group.name, "completion").inc(usage.completion_tokens)


def _best_of_k_stream(
    services: Services,
    group: ModelGroup,
    chat: ChatCompletionRequest,
    strategy: BestOfK,
    k: int,
) -> Stream:
    include_usage = chat.stream_options is not None and chat.stream_options.include_usage
    # Comment lines at least every 10 s keep proxies and clients from timing out.
    interval = min(services.settings.server.keepalive_interval_s, 10.0)

    async def events() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(strategy.execute())
        try:
            yield f": atlas best-of-k k={k}\n\n".encode()
            while not (await asyncio.wait({task}, timeout=interval))[0]:
                yield f": atlas {strategy.progress}\n\n".encode()
            try:
                outcome = task.result()
            except EngineError as exc:
                yield error_event(exc)
                return
            _finished(services, group, strategy, outcome)
            summary = " ".join(f"{k}={v}" for k, v in outcome_headers(outcome, k).items())
            yield f": atlas {summary}\n\n".encode()
            for chunk in winner_chunks(outcome, include_usage):
                yield chunk
            yield DONE
        finally:
            task.cancel()
            await asyncio.shield(asyncio.gather(task, return_exceptions=True))

    headers = sse_headers({"x-atlas-route": "best-of-k", "x-atlas-k": str(k)})
    return Stream(events(), media_type="text/event-stream", headers=headers)


def _finished(services: Services, group: ModelGroup, strategy: BestOfK, outcome: Outcome) -> None:
    _count(services, group, outcome.total)
    if services.lens is not None:
        services.lens.record_later(group, strategy.prompt, outcome)
