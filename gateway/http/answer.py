"""The last steps of every generation route: choose the strategy, admit the request
under its API key's limits, run or stream it, report the answer to the feedback hook
(metrics, usage), charge its cost, and send it."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response import Stream

from gateway.drain import Drain
from gateway.http.auth import caller_of
from gateway.http.edges import CHAT_EDGE, Edge
from gateway.http.metering import Admission, admit, metered
from gateway.http.requests import json_response, sse_headers, until_disconnect
from gateway.http.sse import sse_frames
from gateway.strategies.base import Call, Report, Strategy
from gateway.wiring.services import Services

SSE_MEDIA_TYPE = "text/event-stream"


async def answer(
    request: Request[Any, Any, Any],
    services: Services,
    call: Call,
    drain: Drain,
    edge: Edge = CHAT_EDGE,
) -> Response[Any]:
    """The answer, cut by `drain` when a shutdown's grace period runs out: a 503 before
    any byte, an error event (and [DONE] in chat) once a stream has started. `edge`
    translates it to the request's wire protocol."""
    started = time.monotonic()
    caller = caller_of(request)
    call = msgspec.structs.replace(
        call, key_id=caller.usage_id, tenant=caller.user_id or caller.usage_id
    )
    strategy = services.strategies.choose(call, caller.limits.max_k)
    admission = await admit(services.accounts.limiter, caller)
    if call.stream:
        return await _stream(request, services, call, drain, strategy, admission, edge, started)
    try:
        with drain.bounded():
            result = await until_disconnect(request, strategy.run(call))
        services.feedback.answered(
            call.model,
            result.usage,
            result.lessons,
            served=result.served,
            key_id=caller.usage_id,
            user_id=caller.user_id,
            call=call,
            started=started,
            body=result.body,
        )
        limits = await admission.settle(result.usage.total_tokens)
    finally:
        await admission.release()  # nothing left to do once settled
    body = edge.answer_body(result.body)
    return json_response(body, {**result.headers, **limits} if limits else result.headers)


async def _stream(
    request: Request[Any, Any, Any],
    services: Services,
    call: Call,
    drain: Drain,
    strategy: Strategy,
    admission: Admission,
    edge: Edge,
    started: float,
) -> Response[Any]:
    caller = caller_of(request)
    feedback = services.feedback
    try:
        # Opening waits for the upstream's headers: a client that leaves meanwhile
        # cancels it, so the upstream slot is not held for nobody.
        with drain.bounded():
            opened = await until_disconnect(request, strategy.stream(call))
    except BaseException:
        await admission.release()
        raise

    def reported(report: Report) -> None:
        feedback.answered(
            call.model,
            report.usage,
            report.lessons,
            served=report.served,
            key_id=caller.usage_id,
            user_id=caller.user_id,
            call=call,
            started=started,
        )
        admission.tokens = report.usage.total_tokens  # charged when the stream ends

    frames = sse_frames(opened.events, reported, drain, edge.framer())
    return Stream(
        metered(frames, admission) if admission.settles else frames,
        media_type=SSE_MEDIA_TYPE,
        headers=sse_headers({**opened.headers, **admission.headers}),
    )
