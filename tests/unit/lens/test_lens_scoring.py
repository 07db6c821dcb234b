from array import array

import pytest
import torch

from lens.features import MAX_CODE_CHARS, TRUNCATION_MARK, content_hash, feature_text
from lens.model import LensModel
from lens.records import LensScore
from lens.scoring import neutral_scores, rank_by_energy, score_batch, to_matrix

torch.set_num_threads(1)


def test_to_matrix_accepts_floats_and_float32_bytes() -> None:
    rows = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    as_bytes = [array("f", r).tobytes() for r in rows]
    assert torch.equal(to_matrix(rows, 3), to_matrix(as_bytes, 3))
    assert to_matrix(rows, 3).shape == (2, 3)


def test_to_matrix_names_bad_row() -> None:
    with pytest.raises(ValueError, match="embedding 1 has 2 dimensions, expected 3"):
        to_matrix([[1.0, 2.0, 3.0], [1.0, 2.0]], 3)


def test_score_batch_one_score_per_candidate() -> None:
    model = LensModel(8, (8,)).eval()
    scores = score_batch(model, torch.randn(20, 8))
    assert len(scores) == 20
    assert all(s.energy >= 0 and 0 < s.p_correct < 1 for s in scores)


def test_rank_by_energy_lowest_first_and_stable() -> None:
    scores = [LensScore(energy=e, p_correct=0.5) for e in (0.3, 0.1, 0.3, 0.0)]
    assert rank_by_energy(scores) == [3, 1, 0, 2]
    assert rank_by_energy(neutral_scores(3)) == [0, 1, 2]


def test_feature_text_is_exact() -> None:
    assert feature_text("  Add two numbers.\n", "def add(a, b):\n    return a + b\n") == (
        "### Problem\nAdd two numbers.\n\n### Candidate solution\n"
        "def add(a, b):\n    return a + b\n"
    )


def test_feature_text_truncates_code() -> None:
    text = feature_text("p", "x" * (MAX_CODE_CHARS + 10))
    assert text.endswith(TRUNCATION_MARK + "\n")
    assert text.count("x") == MAX_CODE_CHARS


def test_content_hash_depends_on_model_and_text() -> None:
    assert content_hash("m1", "t") == content_hash("m1", "t")
    assert content_hash("m1", "t") != content_hash("m2", "t")
    assert content_hash("m1", "t") != content_hash("m1", "u")
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    assert content_hash("ab", "c") != content_hash("a", "bc")
