"""The after-answer hook: called once for every answer of every route and strategy,
JSON or stream, with what it cost and what it taught. Metrics, the usage ledger and
Lens examples now; router rewards and request traces hang here later."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.strategies.base import PASSED_THROUGH, Lessons, Served
from gateway.strategies.model import ModelGroup
from gateway.strategies.views import Usage
from gateway.telemetry.metrics import Metrics

if TYPE_CHECKING:  # the Lens brings torch: imported only when enabled
    from gateway.wiring.lens_bridge import LensBridge


class GatewayFeedback:
    def __init__(
        self, metrics: Metrics, lens: LensBridge | None, usage: UsageRecorder | None = None
    ) -> None:
        self._metrics = metrics
        self._lens = lens
        self._usage = usage

    def answered(
        self,
        model: ModelGroup,
        usage: Usage,
        lessons: Lessons | None,
        *,
        served: Served = PASSED_THROUGH,
        key_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Synchronous and cheap: anything slow is handed to a background task (usage
        is added up in memory and flushed by the recorder's own task). `usage` counts
        every token generated for the answer; `key_id` is whom the ledger bills."""
        self._metrics.tokens.labels(model.name, "prompt").inc(usage.prompt_tokens)
        self._metrics.tokens.labels(model.name, "completion").inc(usage.completion_tokens)
        if key_id is not None and self._usage is not None:
            self._usage.record(usage_event(model.name, usage, served, key_id, user_id))
        if lessons is not None and self._lens is not None:
            self._lens.record_later(model, lessons)


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
