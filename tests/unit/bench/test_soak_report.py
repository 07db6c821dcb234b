"""The soak benchmark's aggregation: windows, percentiles, the verdict and its section."""

from __future__ import annotations

import pytest

from bench.soak_report import Sample, Window, percentile, section, verdict, windows


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([5.0], 50) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(list(reversed(values)), 100) == 100.0


def test_samples_fall_into_their_windows() -> None:
    samples = [
        Sample(0.5, "json", 0.010, True),
        Sample(9.9, "stream", 0.030, True),
        Sample(9.99, "json", 0.0, False),
        Sample(10.0, "json", 0.020, True),
        Sample(15.0, "slow", 4.0, True),  # a slow reader: counted, not in the percentiles
    ]
    first, second = windows(samples, [100.0, 101.0], window_s=10.0)
    assert (first.start_s, first.requests, first.errors, first.rss_mb) == (0.0, 3, 1, 100.0)
    assert first.rps == pytest.approx(0.3)
    assert (first.p50_ms, first.p99_ms) == (pytest.approx(10.0), pytest.approx(30.0))
    assert (second.requests, second.errors, second.p99_ms) == (2, 0, pytest.approx(20.0))


def _window(i: int, rss: float, p99: float, errors: int = 0) -> Window:
    return Window(10.0 * i, 100, 10.0, p99 / 2, p99, errors, rss)


def test_verdict_meets_the_targets_on_a_flat_run() -> None:
    run = [_window(i, 100.0 + i, 50.0) for i in range(6)]
    result = verdict(run)
    assert result.requests == 600 and result.errors == 0
    assert result.rss_growth_pct == pytest.approx(5.0)
    assert result.p99_stable and result.passed
    text = section(run, result, "**smoke**", "img/soak.png")
    assert "| zero errors | 0 errors in 600 requests | met |" in text
    assert "(+5.0 %) | met |" in text
    assert text.count("\n| 50 |") == 1  # one row per window


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        ([_window(0, 100, 50), _window(1, 100, 50, errors=1), _window(2, 100, 50)], "errors"),
        ([_window(0, 100, 50), _window(1, 105, 50), _window(2, 111, 50)], "rss"),
        ([_window(0, 100, 50), _window(1, 100, 60), _window(2, 100, 80)], "p99"),
    ],
)
def test_verdict_fails_each_target(run: list[Window], reason: str) -> None:
    result = verdict(run)
    assert not result.passed
    assert (result.errors > 0, result.rss_growth_pct >= 10, not result.p99_stable) == (
        reason == "errors",
        reason == "rss",
        reason == "p99",
    )
    assert "**missed**" in section(run, result, "", "img/soak.png")


def test_a_run_with_no_windows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no windows"):
        verdict([])


def test_atlas_bench_soak_is_registered_with_a_30_minute_default() -> None:
    from bench.cli import build_parser

    args = build_parser().parse_args(["soak"])
    assert (args.duration, args.load) == (1800.0, 0.8)
    assert args.func.__name__ == "main_soak"
