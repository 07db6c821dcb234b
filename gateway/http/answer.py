"""The last steps of every generation route: choose the strategy, run or stream it,
report the answer to the feedback hook, and send it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Stream

from gateway.drain import Drain
from gateway.http.requests import json_response, sse_headers, until_disconnect
from gateway.http.sse import sse_frames
from gateway.strategies.base import Call, Report
from gateway.wiring.services import Services

SSE_MEDIA_TYPE = "text/event-stream"


async def answer(
    request: Request[Any, Any, Any], services: Services, call: Call, drain: Drain
) -> Response[Any]:
    """The answer, cut by `drain` when a shutdown's grace period runs out: a 503 before
    any byte, an error event and [DONE] once a stream has started."""
    strategy = services.strategies.choose(call)
    feedback = services.feedback
    if call.stream:
        # Opening waits for the upstream's headers: a client that leaves meanwhile
        # cancels it, so the upstream slot is not held for nobody.
        with drain.bounded():
            opened = await until_disconnect(request, strategy.stream(call))

        def reported(report: Report) -> None:
            feedback.answered(call.model, report.usage, report.lessons)

        return Stream(
            sse_frames(opened.events, reported, drain),
            media_type=SSE_MEDIA_TYPE,
            headers=sse_headers(opened.headers),
        )
    with drain.bounded():
        result = await until_disconnect(request, strategy.run(call))
    feedback.answered(call.model, result.usage, result.lessons)
    return json_response(result.body, result.headers)
