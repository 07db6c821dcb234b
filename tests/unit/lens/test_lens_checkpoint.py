from pathlib import Path

import pytest
import torch

from lens.checkpoint import CheckpointStore
from lens.model import LensModel

torch.set_num_threads(1)


def _model(seed: int) -> LensModel:
    torch.manual_seed(seed)
    return LensModel(8, (8, 4), with_metric=seed % 2 == 1)


def test_round_trip_gives_same_outputs(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    model = _model(0)
    version = store.save(model, {"trained_through": "1-0", "val_auc": 0.9})
    loaded = store.load_latest()
    assert loaded is not None and loaded.version == version == 1
    x = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model.energy(x), model.energy(x))
        assert torch.equal(loaded.model.logit(loaded.model.energy(x)), model.logit(model.energy(x)))
    assert loaded.meta["trained_through"] == "1-0"


def test_versions_increase_and_latest_points_to_newest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    assert store.load_latest() is None
    assert [store.save(_model(i), {}) for i in range(3)] == [1, 2, 3]
    assert (tmp_path / "latest").read_text() == "lens-v000003.pt"
    loaded = store.load_latest()
    assert loaded is not None and loaded.version == 3 and loaded.model.metric is None
    assert not list(tmp_path.glob("*.tmp"))


def test_prunes_to_keep(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=2)
    for i in range(4):
        store.save(_model(i), {})
    assert store.versions() == [3, 4]


def test_broken_pointer_falls_back_to_newest_file(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(_model(0), {})
    store.save(_model(1), {})
    (tmp_path / "latest").write_text("lens-v000099.pt")
    assert store.latest_version() == 2


def test_failed_write_leaves_previous_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    store.save(_model(0), {})
    with pytest.raises(TypeError):
        store.save(_model(1), {"bad": object()})  # meta that cannot be serialised
    assert store.latest_version() == 1
    assert not list(tmp_path.glob(".*tmp"))


def test_a_home_relative_directory_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LensSettings.checkpoint_dir defaults to ~/.cache/atlas/lens.
    monkeypatch.setenv("HOME", str(tmp_path))
    store = CheckpointStore("~/lens")
    assert store.directory == tmp_path / "lens"
    store.save(_model(0), {})
    assert (tmp_path / "lens" / "latest").is_file()
