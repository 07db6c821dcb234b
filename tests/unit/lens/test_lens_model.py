import pytest
import torch

from lens.model import DiagonalMetric, EnergyMLP, LensModel, model_config, model_from_config

torch.set_num_threads(1)


def test_energy_shape_and_non_negative() -> None:
    net = EnergyMLP(16, (8, 4))
    e = net(torch.randn(5, 16) * 10)
    assert e.shape == (5,)
    assert bool((e >= 0).all())


def test_default_architecture_is_d_512_128_1() -> None:
    linears = [m for m in EnergyMLP(896).modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(896, 512), (512, 128), (128, 1)]


def test_metric_is_positive_diagonal() -> None:
    g = DiagonalMetric(16)(torch.randn(3, 16) * 5)
    assert g.shape == (3, 16)
    assert bool((g > 0).all())


def test_correction_step_lowers_energy() -> None:
    torch.manual_seed(0)
    model = LensModel(16, (32, 8), with_metric=True)
    x = torch.randn(10, 16)
    before = model.score_energy(x)
    after = model.score_energy(x, alpha=1e-3)
    assert float(after.detach().sum()) < float(before.detach().sum())


def test_correction_needs_metric() -> None:
    with pytest.raises(ValueError, match="no metric"):
        LensModel(4, (4,)).correct(torch.zeros(1, 4), 0.1)


def test_p_correct_decreases_with_energy() -> None:
    model = LensModel(4, (4,))
    p = model.p_correct(torch.tensor([0.0, 1.0, 5.0]))
    assert p[0] > p[1] > p[2]


def test_config_round_trip() -> None:
    model = LensModel(12, (6, 3), with_metric=True)
    again = model_from_config(model_config(model))
    assert again.dim == 12 and again.hidden == (6, 3) and again.metric is not None
