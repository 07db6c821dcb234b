from __future__ import annotations

import msgspec
import pytest

from config import (
    BestOfKSettings,
    PassThroughSettings,
    PatternCacheSettings,
    StrategySettings,
    best_of_k_settings,
)


def test_a_forced_k_on_pass_through_runs_best_of_k_defaults_under_its_cap() -> None:
    assert best_of_k_settings(PassThroughSettings(max_k=7)) == BestOfKSettings(k=1, max_k=7)
    assert best_of_k_settings(PassThroughSettings(max_k=1)).max_k == 1
    own = BestOfKSettings(k=3, seed_base=9)
    assert best_of_k_settings(own) is own


def test_temperature_and_test_requests_follow_k() -> None:
    settings = BestOfKSettings()
    assert [settings.temperature(k) for k in (2, 5, 6)] == [0.6, 0.6, 0.8]
    assert [settings.test_request_count(k) for k in (2, 20, 100)] == [2, 5, 10]
    assert BestOfKSettings(test_requests=3).test_request_count(100) == 3


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"k": 0}, "k must be between 1 and max_k"),
        ({"k": 21}, "k must be between 1 and max_k"),
        ({"k": 1, "max_k": 129}, "max_k must be at most 128"),
        ({"test_requests": 129}, "test_requests must be between 0 and 128"),
        ({"first_wave": 0}, "first_wave must be between 1 and 128"),
        ({"early_stop_quorum": 0}, "early_stop_quorum must be between 1 and 128"),
        ({"time_budget_min_s": -1}, "time_budget_min_s must be at least 0"),
    ],
)
def test_best_of_k_validation(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BestOfKSettings(**fields)


@pytest.mark.parametrize("max_k", [0, 129])
def test_pass_through_validation(max_k: int) -> None:
    with pytest.raises(ValueError, match="max_k must be between 1 and 128"):
        PassThroughSettings(max_k=max_k)


def test_the_tag_chooses_the_variant_and_round_trips() -> None:
    for strategy in (PassThroughSettings(max_k=3), BestOfKSettings(k=2)):
        data = msgspec.to_builtins(strategy)
        assert msgspec.convert(data, StrategySettings) == strategy
    assert msgspec.to_builtins(PassThroughSettings()) == {"type": "pass_through", "max_k": 20}


def test_hints_are_off_by_default_and_their_settings_are_checked() -> None:
    cache = PatternCacheSettings()
    assert cache.hints is False and cache.max_hints == 2 and cache.hint_budget_tokens == 300
    assert PatternCacheSettings(hints=True).hints is True
    for fields, message in (
        ({"max_hints": 0}, "max_hints"),
        ({"hint_budget_tokens": 10}, "hint_budget_tokens"),
        ({"hint_min_similarity": 1.5}, "hint_min_similarity"),
    ):
        with pytest.raises(ValueError, match=message):
            PatternCacheSettings(**fields)
