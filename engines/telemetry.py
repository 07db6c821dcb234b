"""Speculative decoding telemetry from llama-server's `timings` (draft_n, draft_n_accepted).

A draft model that is configured but never accepted is a silent 2x slowdown (the
original deployment ran with 0 % acceptance because embeddings were enabled on the
generation server), so a window of zero acceptance is logged as a warning.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import msgspec

logger = logging.getLogger(__name__)

WINDOW = 50


class SpecTelemetry:
    """Accepted/drafted token counts of one engine, in total and over the last requests."""

    def __init__(self, engine: str, *, has_draft: bool, window: int = WINDOW) -> None:
        self.engine = engine
        self.has_draft = has_draft
        self.requests = 0
        self.drafted = 0
        self.accepted = 0
        self._window: deque[tuple[int, int]] = deque(maxlen=window)
        # Generation speed (`predicted_per_second`) of the last replies that reported it.
        self._speeds: deque[float] = deque(maxlen=window)
        self._warned = False

    def record_timings(self, timings: Mapping[str, Any]) -> None:
        """Count one response's `timings`; a response without draft fields drafted 0."""
        drafted = _count(timings.get("draft_n"))
        accepted = _count(timings.get("draft_n_accepted"))
        self.requests += 1
        self.drafted += drafted
        self.accepted += accepted
        self._window.append((drafted, accepted))
        speed = timings.get("predicted_per_second")
        if isinstance(speed, int | float) and speed > 0:
            self._speeds.append(float(speed))
        self._check_window()

    def record_body(self, body: bytes) -> None:
        """Count a JSON response body (or one stream chunk) if it carries `timings`."""
        timings = extract_timings(body)
        if timings is not None:
            self.record_timings(timings)

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / drafted tokens since start; None before anything was drafted."""
        return self.accepted / self.drafted if self.drafted else None

    @property
    def tokens_per_second(self) -> float | None:
        """Mean generation speed over the last replies; None before any reported one."""
        return sum(self._speeds) / len(self._speeds) if self._speeds else None

    @property
    def zero_acceptance(self) -> bool:
        """The alarm: a draft model, a full window of requests, and nothing accepted."""
        full = len(self._window) >= (self._window.maxlen or 0)
        return self.has_draft and full and sum(a for _, a in self._window) == 0

    @property
    def window_acceptance_rate(self) -> float | None:
        drafted = sum(d for d, _ in self._window)
        return sum(a for _, a in self._window) / drafted if drafted else None

    def _check_window(self) -> None:
        if not self.has_draft or len(self._window) < (self._window.maxlen or 0):
            return
        zero = sum(a for _, a in self._window) == 0
        if zero and not self._warned:
            logger.warning(
                "engine %s has a draft model but accepted no draft tokens in its last %d "
                "requests (%d drafted): speculative decoding is not working (embeddings "
                "enabled on the generation server? a draft model with another tokenizer?)",
                self.engine,
                len(self._window),
                sum(d for d, _ in self._window),
            )
        self._warned = zero

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "draft_tokens": self.drafted,
            "draft_tokens_accepted": self.accepted,
            "acceptance_rate": self.acceptance_rate,
        }


class _WithTimings(msgspec.Struct):
    timings: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(_WithTimings)


def extract_timings(body: bytes) -> dict[str, Any] | None:
    """The `timings` object of a llama-server JSON body or stream chunk, if any."""
    if b'"timings"' not in body:
        return None
    try:
        return _decoder.decode(body).timings
    except msgspec.DecodeError:
        return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


__all__ = ["WINDOW", "SpecTelemetry", "extract_timings"]
