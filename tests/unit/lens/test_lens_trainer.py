import pytest
import torch

from lens.metrics import energy_auc
from lens.model import LensModel
from lens.records import Example
from lens.retrain import new_model, train_candidate
from lens.settings import LensSettings
from lens.synthetic import synthetic_examples
from lens.trainer import (
    NotEnoughDataError,
    ReplayBuffer,
    calibration_loss,
    energies,
    pairwise_margin_loss,
    split_by_problem,
    to_data,
    train_model,
)

torch.set_num_threads(1)
DIM = 32
SETTINGS = LensSettings(dim=DIM, hidden=(64, 32), epochs=30, patience=5, min_train_examples=10)


def test_pairwise_loss_zero_when_separated_by_margin() -> None:
    e = torch.tensor([0.0, 2.0, 0.0, 0.5])
    y = torch.tensor([True, False, True, False])
    g = torch.tensor([0, 0, 1, 1])
    w = torch.ones(4)
    # problem 0 separated by 2 > margin 1; problem 1 by 0.5: hinge 0.5 over 2 pairs
    assert float(pairwise_margin_loss(e, y, g, w, 1.0)) == pytest.approx(0.25)
    assert float(pairwise_margin_loss(e[:2], y[:2], g[:2], w[:2], 1.0)) == 0.0


def test_pairwise_loss_ignores_pairs_across_problems() -> None:
    e = torch.tensor([5.0, 0.0])
    y = torch.tensor([True, False])
    assert float(pairwise_margin_loss(e, y, torch.tensor([0, 1]), torch.ones(2), 1.0)) == 0.0


def test_pairwise_loss_weights() -> None:
    e = torch.tensor([1.0, 1.0, 1.0])
    y = torch.tensor([True, False, False])
    g = torch.zeros(3, dtype=torch.int64)
    w = torch.tensor([1.0, 1.0, 0.0])  # the zero-weight failure adds nothing
    assert float(pairwise_margin_loss(e, y, g, w, 1.0)) == pytest.approx(1.0)


def test_calibration_loss_lower_when_right() -> None:
    model = LensModel(4, (4,))
    y = torch.tensor([True, False])
    right = calibration_loss(model, torch.tensor([0.0, 6.0]), y, torch.ones(2))
    wrong = calibration_loss(model, torch.tensor([6.0, 0.0]), y, torch.ones(2))
    assert float(right.detach()) < float(wrong.detach())


def test_split_is_by_problem_and_stable() -> None:
    data = to_data(synthetic_examples(40, 5, DIM), SETTINGS)
    train, val = split_by_problem(data, 0.25, seed=3)
    assert set(train.problems).isdisjoint(val.problems)
    assert len(train) + len(val) == len(data)
    again = split_by_problem(data, 0.25, seed=3)[1]
    assert set(again.problems) == set(val.problems)


def test_split_needs_two_problems() -> None:
    with pytest.raises(NotEnoughDataError):
        split_by_problem(to_data(synthetic_examples(1, 5, DIM), SETTINGS), 0.2, 0)


def test_generated_tests_excluded_at_weight_zero() -> None:
    settings = LensSettings(dim=DIM, generated_weight=0.0)
    examples = synthetic_examples(2, 3, DIM) + synthetic_examples(2, 3, DIM, source="generated")
    assert len(to_data(examples, settings)) == 6


def test_separable_data_reaches_high_auc_on_held_out_problems() -> None:
    cand = train_candidate(None, synthetic_examples(60, 10, DIM, seed=1), SETTINGS)
    assert cand.candidate_auc >= 0.95
    held_out = to_data(synthetic_examples(30, 10, DIM, seed=99, prefix="h"), SETTINGS)
    e = energies(cand.model, held_out.x)
    assert energy_auc(e, held_out.y.tolist()) >= 0.95
    assert cand.metrics.val_energy_gap > 0


def test_untrained_model_is_near_chance() -> None:
    # the check above must be able to fail: an untrained model is not good
    held_out = to_data(synthetic_examples(30, 10, DIM, seed=99), SETTINGS)
    e = energies(new_model(SETTINGS), held_out.x)
    assert energy_auc(e, held_out.y.tolist()) < 0.8


def test_calibrated_probability_tracks_pass_rate() -> None:
    cand = train_candidate(None, synthetic_examples(60, 10, DIM, seed=1), SETTINGS)
    held = to_data(synthetic_examples(40, 10, DIM, seed=7), SETTINGS)
    with torch.no_grad():
        p = cand.model.p_correct(cand.model.energy(held.x))
    mean_p, rate = float(p.mean()), float(held.y.float().mean())
    assert abs(mean_p - rate) < 0.1
    passing, failing = p[held.y], p[~held.y]
    assert float(passing.mean()) > 0.7 > 0.3 > float(failing.mean())


def test_early_stopping_keeps_best_epoch() -> None:
    data = to_data(synthetic_examples(40, 8, DIM, seed=2), SETTINGS)
    train, val = split_by_problem(data, 0.25, 0)
    model = new_model(SETTINGS)
    m = train_model(model, train, val, SETTINGS)
    assert m.val_auc == max(h.val_auc for h in m.history)
    assert m.epochs_run <= SETTINGS.epochs


def test_replay_buffer_is_bounded_uniform_sample() -> None:
    buf = ReplayBuffer(50, seed=0)
    examples = synthetic_examples(100, 5, 4)
    buf.extend(examples)
    assert len(buf) == 50
    ids = {int(e.problem_id[1:]) for e in buf.items()}
    assert min(ids) < 50 < max(ids)  # old and new both kept


def test_warm_start_keeps_learning(tmp_path: object) -> None:
    first = train_candidate(None, synthetic_examples(40, 10, DIM, seed=1), SETTINGS)
    second = train_candidate(first.model, synthetic_examples(40, 10, DIM, seed=5), SETTINGS)
    assert second.current_auc is not None and second.current_auc > 0.9
    assert second.candidate_auc >= 0.9
    assert isinstance(second.model, LensModel) and second.model is not first.model


def _unused(_: list[Example]) -> None: ...
