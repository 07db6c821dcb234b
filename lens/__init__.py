"""Geometric Lens: an energy model over code embeddings that ranks verified candidates.

The only package of ATLAS that imports torch. It gets embeddings from its caller
(or through the `Embedder` protocol the gateway implements) and never imports
`gateway`, `engines` or `sandbox`.
"""

from lens.cache import CachedEmbedder, Embedder, EmbeddingCache
from lens.checkpoint import CheckpointStore
from lens.features import content_hash, feature_text
from lens.lease import TrainingLease
from lens.published import PublishedCheckpoints
from lens.records import Example, LensScore, TrainMetrics, TrainOutcome, make_example
from lens.scoring import rank_by_energy
from lens.service import LensService
from lens.settings import LensSettings, TestSource
from lens.store import ExampleStore

__all__ = [
    "CachedEmbedder",
    "CheckpointStore",
    "Embedder",
    "EmbeddingCache",
    "Example",
    "ExampleStore",
    "LensScore",
    "LensService",
    "LensSettings",
    "PublishedCheckpoints",
    "TestSource",
    "TrainMetrics",
    "TrainOutcome",
    "TrainingLease",
    "content_hash",
    "feature_text",
    "make_example",
    "rank_by_energy",
]
