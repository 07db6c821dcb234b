"""The after-answer hook: called once for every answer of every route and strategy,
JSON or stream, with what it cost and what it taught. Metrics, the usage ledger, Lens
examples and request traces now; router rewards hang here later."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.strategies.base import PASSED_THROUGH, Call, Lessons, Served
from gateway.strategies.model import ModelGroup
from gateway.strategies.views import Usage
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.request_ids import request_id_var
from gateway.telemetry.traces import Trace, TraceCandidate, cut_text
from gateway.wiring.trace_store import TraceStore

if TYPE_CHECKING:  # the Lens brings torch: imported only when enabled
    from gateway.wiring.lens_bridge import LensBridge


class GatewayFeedback:
    def __init__(
        self,
        metrics: Metrics,
        lens: LensBridge | None,
        usage: UsageRecorder | None = None,
        traces: TraceStore | None = None,
    ) -> None:
        self._metrics = metrics
        self._lens = lens
        self._usage = usage
        self._traces = traces

    def answered(
        self,
        model: ModelGroup,
        usage: Usage,
        lessons: Lessons | None,
        *,
        served: Served = PASSED_THROUGH,
        key_id: str | None = None,
        user_id: str | None = None,
        call: Call | None = None,
        started: float | None = None,
        body: bytes | None = None,
    ) -> None:
        """Synchronous and cheap: anything slow is handed to a background task (usage
        is added up in memory and flushed by the recorder's own task; a trace is one
        append to a bounded buffer, written to Redis by the store's task). `usage`
        counts every token generated for the answer; `key_id` is whom the ledger bills;
        `started` (time.monotonic()) gives the trace its latency; `body`, a JSON
        answer, its text when capture is on."""
        self._metrics.tokens.labels(model.name, "prompt").inc(usage.prompt_tokens)
        self._metrics.tokens.labels(model.name, "completion").inc(usage.completion_tokens)
        if key_id is not None and self._usage is not None:
            self._usage.record(usage_event(model.name, usage, served, key_id, user_id))
        if lessons is not None and self._lens is not None:
            self._lens.record_later(model, lessons)
        if self._traces is not None:
            latency_ms = None if started is None else (time.monotonic() - started) * 1000
            trace = trace_of(model.name, usage, served, key_id, user_id, call, latency_ms)
            if self._traces.capture_text and call is not None:
                trace = msgspec.structs.replace(
                    trace, prompt_text=cut_text(call.prompt_text), answer_text=answer_text(body)
                )
            self._traces.record(trace)


def usage_event(
    model: str, usage: Usage, served: Served, key_id: str, user_id: str | None
) -> UsageEvent:
    returned = served.answer_usage(usage)
    return UsageEvent(
        key_id=key_id,
        user_id=user_id,
        model=model,
        route=served.route,
        k=served.k,
        prompt_tokens=returned.prompt_tokens,
        completion_tokens=returned.completion_tokens,
        generated_tokens=usage.total_tokens,
        verified=served.verified,
    )


def trace_of(
    model: str,
    usage: Usage,
    served: Served,
    key_id: str | None,
    user_id: str | None,
    call: Call | None,
    latency_ms: float | None,
) -> Trace:
    returned = served.answer_usage(usage)
    decision = served.decision
    return Trace(
        request_id=call.request_id if call is not None else request_id_var.get(),
        at=time.time(),
        model=model,
        route=served.route,
        k=served.k,
        stream=call.stream if call is not None else False,
        key_id=key_id,
        user_id=user_id,
        verified=served.verified,
        selection=decision.selection if decision else None,
        tests_source=decision.tests_source if decision else None,
        tests_count=decision.tests_count if decision else 0,
        candidates=tuple(
            TraceCandidate(
                index=v.index,
                round=v.round,
                verdict=v.verdict,
                passed=v.passed,
                error=v.error,
                winner=v.winner,
            )
            for v in (decision.candidates if decision else ())
        ),
        prompt_tokens=returned.prompt_tokens,
        completion_tokens=returned.completion_tokens,
        generated_tokens=usage.total_tokens,
        latency_ms=latency_ms,
    )


def answer_text(body: bytes | None) -> str | None:
    """The first choice's text of a chat or completions answer; None for a stream."""
    if body is None:
        return None
    try:
        data: Any = msgspec.json.decode(body)
        choice = (data.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or choice.get("text")
    except (msgspec.DecodeError, AttributeError, IndexError, TypeError):
        return None
    return cut_text(text) if isinstance(text, str) else None
