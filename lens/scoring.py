"""The batched forward pass and the ranker; synchronous, run off the event loop."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import torch

from lens.model import LensModel
from lens.records import LensScore

# One candidate's embedding: floats, or float32 bytes (OpenAI `encoding_format="base64"`
# decoded), which skips the float-by-float conversion.
Vector = Sequence[float] | bytes


def to_matrix(embeddings: Sequence[Vector], dim: int) -> torch.Tensor:
    """(k, dim) float32 tensor; raises ValueError naming the first bad row."""
    buf = bytearray()
    for i, vec in enumerate(embeddings):
        raw = vec if isinstance(vec, bytes) else array("f", vec).tobytes()
        if len(raw) != 4 * dim:
            raise ValueError(f"embedding {i} has {len(raw) // 4} dimensions, expected {dim}")
        buf += raw
    return torch.frombuffer(buf, dtype=torch.float32).reshape(len(embeddings), dim)


def score_batch(
    model: LensModel,
    x: torch.Tensor,
    alpha: float | None = None,
) -> list[LensScore]:
    """One forward pass over all k candidates."""
    if alpha is None:
        with torch.inference_mode():
            energy = model.energy(x)
            p = model.p_correct(energy)
    else:
        # The correction step needs a gradient of C, so no inference mode here.
        with torch.no_grad():
            energy = model.score_energy(x, alpha=alpha)
            p = model.p_correct(energy)
    return [
        LensScore(energy=e, p_correct=q) for e, q in zip(energy.tolist(), p.tolist(), strict=True)
    ]


def neutral_scores(k: int) -> list[LensScore]:
    """What an untrained Lens says: nothing; the ranker then keeps the given order."""
    return [LensScore(energy=0.0, p_correct=0.5) for _ in range(k)]


def rank_by_energy(scores: Sequence[LensScore]) -> list[int]:
    """Candidate indices, lowest energy (most likely correct) first; ties keep input order."""
    return sorted(range(len(scores)), key=lambda i: scores[i].energy)
