"""What the router learns of a request from the model's embedding upstream before it
decides: the near-match vector of the last user message, and the Lens' predicted
failure of a first candidate (L), both from one /v1/embeddings request.

The two texts differ on purpose (docs/routing.md, "Difficulty"): near matches compare
the message itself (up to 64 KiB), the Lens scores its own feature text (the problem,
cut to its limit, with an empty candidate). Sharing one vector would make two prompts
with the same head look identical to the cache and tie the stored vectors to the Lens'
template; sharing the request costs one embedding call, not two.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engines import EngineError
from gateway.strategies.router.difficulty import NEUTRAL
from gateway.strategies.router.patterns import Embedder, unit_vector

logger = logging.getLogger(__name__)
# What a broken upstream answer or a Lens that cannot score raises: the signal is lost,
# never the request (a RuntimeError: torch, or the Lens' pool shut down).
_LOST = (EngineError, ValueError, KeyError, TypeError, RuntimeError)


class FailurePredictor(Protocol):
    """The Lens' failure probability for a first candidate, before any exists
    (gateway/wiring/lens_bridge.py). The router embeds `text(problem)` with the model's
    embedder (`RouterTools.embedder_for`) and hands the vector to `failure`."""

    def text(self, problem: str) -> str: ...

    async def failure(self, vector: Sequence[float]) -> float:
        """1 - p(correct) of the vector, in [0, 1]."""
        ...


@dataclass(frozen=True, slots=True)
class Embedded:
    near: bytes = b""  # the near-match vector (float32, unit length); b"": none
    problem: list[float] | None = None  # the vector of the predictor's text


async def embed(
    embedder: Embedder | None, near_text: str | None, problem_text: str | None
) -> Embedded:
    """Both texts in one request; a text that is None is not asked for. A failure
    loses both (near matches fall back to word sets, L to neutral)."""
    texts = [t for t in (near_text, problem_text) if t is not None]
    if embedder is None or not texts:
        return Embedded()
    try:
        vectors = await embedder.embed(texts)
        if len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} embeddings for {len(texts)} texts")
    except _LOST as exc:
        logger.warning("router: no embeddings (%s): near matches by word sets, Lens neutral", exc)
        return Embedded()
    near = unit_vector(vectors[0]) if near_text is not None else b""
    return Embedded(near, vectors[-1] if problem_text is not None else None)


async def predicted_failure(
    predictor: FailurePredictor | None, vector: list[float] | None
) -> float:
    """L: the predictor's failure probability of the problem's vector; NEUTRAL without
    one, or when it cannot say."""
    if predictor is None or vector is None:
        return NEUTRAL
    try:
        failure = await predictor.failure(vector)
    except _LOST as exc:
        logger.warning("router: the Lens could not score the problem (%s): L neutral", exc)
        return NEUTRAL
    if not math.isfinite(failure) or not 0.0 <= failure <= 1.0:
        logger.warning("router: the Lens said p(failure) = %r: L neutral", failure)
        return NEUTRAL
    return failure
