"""Templates rendered with contexts the browser tests do not reach (a Lens with a
training behind it, a trace with captured text): every name defined (StrictUndefined),
everything escaped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gateway.accounts.usage_read import UsageCounts
from gateway.admin.pages.render import environment
from gateway.telemetry.traces import Trace, TraceCandidate


def _render(name: str, **context: Any) -> str:
    viewer = SimpleNamespace(
        user=SimpleNamespace(name="root", role="admin", id="u1"), is_admin=True
    )
    base = {"viewer": viewer, "csrf": "t", "nav": "", "path": "/admin/x"}
    return environment().get_template(name).render(**base, **context)


def test_the_verification_page_with_a_trained_lens() -> None:
    history = [{"epoch": e, "loss": 1 / (e + 1), "val_auc": 0.6 + e / 100} for e in range(5)]
    lens = {
        "ready": True,
        "version": 3,
        "training": False,
        "pending": 12,
        "train_every": 200,
        "examples": 4810,
        "auc": 0.874,
        "energy_gap": 0.41,
        "last_reason": "not worse",
        "swapped": True,
        "history": history,
        "curve": {"type": "line", "labels": ["0"], "datasets": [{"label": "a", "data": [1]}]},
    }
    recent = UsageCounts(requests=10, verified=7, routes={"best-of-k": 6}, prompt_tokens=5)
    html = _render("verification.html", recent=recent, days=30, lens=lens)
    assert "v3" in html and "0.874" in html and "4,810" in html and "70.0 %" in html
    assert 'data-chart=\'{"datasets"' in html and "Not yet available" in html


def test_a_trace_with_captured_text_is_escaped() -> None:
    trace = Trace(
        request_id="r1",
        at=0.0,
        model="coder",
        route="best-of-k",
        k=2,
        verified=True,
        selection="tests",
        tests_source="request",
        tests_count=2,
        candidates=(
            TraceCandidate(index=0, verdict="failed", passed=1),
            TraceCandidate(index=1, verdict="passed", passed=2, winner=True),
        ),
        prompt_text="<script>alert(1)</script>",
        answer_text="ok & done",
    )
    html = _render("trace.html", trace=trace)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "ok &amp; done" in html and "1 / 2" in html and "winner" in html
