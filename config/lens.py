"""Settings of the Geometric Lens (`[lens]`): the gateway's switches and the ranker's own.

The one definition: `lens/` takes this struct as it is (`lens.LensSettings` is this
class). Imports nothing of ATLAS.
"""

from __future__ import annotations

import msgspec

DEFAULT_CHECKPOINT_DIR = "~/.cache/atlas/lens"  # `~` is expanded where the path is used


class LensSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Geometric Lens: ranks verified candidates and learns from their verdicts."""

    # Gateway
    enabled: bool = False
    # Deprecated: the Lens keeps its data in the process's store ([redis]). Still
    # accepted: when [redis] url is not set, this URL is the store's.
    redis_url: str | None = None
    record: bool = True  # store verified candidates as training examples
    # Model and storage
    dim: int = 896  # the embedding width of the models' embedding upstreams (Qwen2.5-Coder-0.5B)
    hidden: tuple[int, ...] = (512, 128)
    checkpoint_dir: str = DEFAULT_CHECKPOINT_DIR
    keep_checkpoints: int = 5
    redis_prefix: str = "lens:"
    store_max_examples: int = 20_000
    embedding_cache_ttl_s: int = 7 * 24 * 3600
    # Weight of each verdict source (TestSource) in the losses; 0 excludes the source.
    request_weight: float = 1.0  # tests sent with the request
    prompt_weight: float = 1.0  # tests found in the prompt
    generated_weight: float = 0.3  # tests the model wrote
    # Training
    train_every: int = 200  # new examples that start a background run
    min_train_examples: int = 40
    epochs: int = 60
    patience: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    margin: float = 1.0
    calibration_weight: float = 0.5
    problems_per_batch: int = 32
    val_fraction: float = 0.2
    replay_size: int = 5_000
    seed: int = 0
    # Replicas: one trains at a time under a Redis lease; the others follow (lens/lease.py)
    lease_ttl_s: float = 30.0  # a killed trainer's lease frees itself after this long
    poll_interval_s: float = 5.0  # how often a replica looks for a newly published checkpoint
    # Threads
    torch_threads: int = 1
    score_workers: int = 2
    # Experimental metric correction dx = -alpha G^-1 grad C, scored at x + dx.
    metric_correction: bool = False
    metric_alpha: float = 0.1

    def __post_init__(self) -> None:
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError("hidden must list positive widths")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1)")
        for name in (
            "dim",
            "train_every",
            "min_train_examples",
            "epochs",
            "patience",
            "problems_per_batch",
            "torch_threads",
            "score_workers",
            "store_max_examples",
            "keep_checkpoints",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.1 <= self.lease_ttl_s <= 3600:
            raise ValueError("lease_ttl_s must be between 0.1 and 3600")
        if not 0.05 <= self.poll_interval_s <= 600:
            raise ValueError("poll_interval_s must be between 0.05 and 600")
        for name in ("request_weight", "prompt_weight", "generated_weight"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")

    def source_weight(self, source: str) -> float:
        """The loss weight of a verdict from `source`; 0 for a source it does not know."""
        weights = {
            "request": self.request_weight,
            "prompt": self.prompt_weight,
            "generated": self.generated_weight,
        }
        return weights.get(source, 0.0)


__all__ = ["DEFAULT_CHECKPOINT_DIR", "LensSettings"]
