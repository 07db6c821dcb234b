import pytest

from lens.metrics import auc, energy_auc, energy_gap, pick_stats


def test_auc_perfect_and_reversed() -> None:
    assert auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0


def test_auc_ties_count_half() -> None:
    assert auc([0.5, 0.5], [True, False]) == 0.5
    # one positive above both negatives, one tied with a negative: (2 + 1.5) / 4
    assert auc([0.9, 0.3, 0.3, 0.1], [True, True, False, False]) == pytest.approx(0.875)


def test_auc_one_class_is_half() -> None:
    assert auc([0.1, 0.2], [True, True]) == 0.5


def test_energy_auc_low_energy_positive() -> None:
    assert energy_auc([0.1, 2.0], [True, False]) == 1.0


def test_energy_gap() -> None:
    assert energy_gap([1.0, 3.0, 5.0], [True, False, False]) == pytest.approx(3.0)
    assert energy_gap([1.0], [True]) == 0.0


def test_pick_stats() -> None:
    energies = [0.1, 0.9, 0.5, 0.2, 0.3, 0.4]
    labels = [True, False, False, True, True, True]
    problems = ["a", "a", "b", "b", "c", "c"]
    s = pick_stats(energies, labels, problems)
    assert s.problems == 3 and s.mixed_problems == 2
    assert s.lens_pass_rate == 1.0
    assert s.mixed_lens == 1.0
    assert s.mixed_random == pytest.approx(0.5)
    assert s.mixed_worst == 0.0
