from __future__ import annotations

import logging

import pytest

from engines.telemetry import SpecTelemetry, extract_timings


def test_acceptance_rate() -> None:
    telemetry = SpecTelemetry("gen", has_draft=True)
    assert telemetry.acceptance_rate is None
    telemetry.record_timings({"draft_n": 10, "draft_n_accepted": 7})
    telemetry.record_timings({"draft_n": 10, "draft_n_accepted": 9, "predicted_n": 3})
    assert telemetry.acceptance_rate == pytest.approx(0.8)
    assert telemetry.snapshot()["requests"] == 2


def test_warns_once_after_a_window_of_zero_acceptance(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SpecTelemetry("gen", has_draft=True, window=50)
    with caplog.at_level(logging.WARNING, logger="engines.telemetry"):
        for _ in range(49):
            telemetry.record_timings({"draft_n": 4, "draft_n_accepted": 0})
        assert not caplog.records
        telemetry.record_timings({})  # no draft fields at all counts as zero
        telemetry.record_timings({"draft_n": 4, "draft_n_accepted": 0})
    assert len(caplog.records) == 1
    assert "accepted no draft tokens in its last 50 requests" in caplog.records[0].message


def test_no_warning_without_a_draft_model(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SpecTelemetry("gen", has_draft=False, window=2)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            telemetry.record_timings({})
    assert not caplog.records


def test_extract_timings_from_bodies_and_chunks() -> None:
    assert extract_timings(b'{"choices":[],"timings":{"draft_n":3}}') == {"draft_n": 3}
    assert extract_timings(b'{"choices":[]}') is None
    assert extract_timings(b'{"timings": nonsense') is None
    telemetry = SpecTelemetry("gen", has_draft=True)
    telemetry.record_body(b'{"timings":{"draft_n":4,"draft_n_accepted":4}}')
    assert telemetry.acceptance_rate == 1.0


def test_speed_and_the_zero_acceptance_alarm() -> None:
    telemetry = SpecTelemetry("e", has_draft=True, window=2)
    assert telemetry.tokens_per_second is None and not telemetry.zero_acceptance
    telemetry.record_timings({"predicted_per_second": 40.0, "draft_n": 8, "draft_n_accepted": 0})
    telemetry.record_timings({"predicted_per_second": 60.0, "draft_n": 8, "draft_n_accepted": 0})
    assert telemetry.tokens_per_second == 50.0
    assert telemetry.zero_acceptance
    telemetry.record_timings({"draft_n": 8, "draft_n_accepted": 3})
    assert not telemetry.zero_acceptance
