"""The trace ring: bounded, newest first, found by id, text cut."""

from __future__ import annotations

from gateway.telemetry.traces import TEXT_CHARS, Trace, TraceRing, cut_text


def _trace(n: int, user: str | None = None) -> Trace:
    return Trace(request_id=f"r{n}", at=float(n), model="coder", route="fast", user_id=user)


def test_the_ring_keeps_the_newest_and_finds_them_by_id() -> None:
    ring = TraceRing(capacity=3)
    stored = [ring.record(_trace(n)) for n in range(5)]
    assert [t.id for t in stored] == [1, 2, 3, 4, 5]
    assert len(ring) == 3
    assert [t.request_id for t in ring.recent(10)] == ["r4", "r3", "r2"]
    assert ring.get(5) is not None and ring.get(5).request_id == "r4"  # type: ignore[union-attr]
    assert ring.get(1) is None and ring.get(6) is None and ring.get(-1) is None


def test_recent_filters_and_stops_at_the_limit() -> None:
    ring = TraceRing()
    for n in range(10):
        ring.record(_trace(n, user="a" if n % 2 else "b"))
    mine = ring.recent(2, lambda t: t.user_id == "a")
    assert [t.request_id for t in mine] == ["r9", "r7"]


def test_capture_is_off_by_default_and_text_is_cut() -> None:
    assert TraceRing().capture_text is False
    assert cut_text("short") == "short"
    long = cut_text("x" * (TEXT_CHARS + 10))
    assert long is not None and len(long) < TEXT_CHARS + 10 and long.endswith("[...]")
