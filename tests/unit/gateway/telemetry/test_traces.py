"""Trace text: cut at TEXT_CHARS (the store itself: tests/integration/test_trace_store.py)."""

from __future__ import annotations

from gateway.telemetry.traces import TEXT_CHARS, cut_text


def test_text_is_cut() -> None:
    assert cut_text(None) is None
    assert cut_text("short") == "short"
    long = cut_text("x" * (TEXT_CHARS + 10))
    assert long is not None and len(long) < TEXT_CHARS + 10 and long.endswith("[...]")
