"""The after-answer hook: called once for every answer of every route and strategy,
JSON or stream, with what it cost and what it taught. Metrics and Lens examples now;
the usage ledger, router rewards and request traces hang here later."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.strategies.base import Lessons
from gateway.strategies.model import ModelGroup
from gateway.strategies.views import Usage
from gateway.telemetry.metrics import Metrics

if TYPE_CHECKING:  # the Lens brings torch: imported only when enabled
    from gateway.wiring.lens_bridge import LensBridge


class GatewayFeedback:
    def __init__(self, metrics: Metrics, lens: LensBridge | None) -> None:
        self._metrics = metrics
        self._lens = lens

    def answered(self, model: ModelGroup, usage: Usage, lessons: Lessons | None) -> None:
        """Synchronous and cheap: anything slow is handed to a background task."""
        self._metrics.tokens.labels(model.name, "prompt").inc(usage.prompt_tokens)
        self._metrics.tokens.labels(model.name, "completion").inc(usage.completion_tokens)
        if lessons is not None and self._lens is not None:
            self._lens.record_later(model, lessons)
