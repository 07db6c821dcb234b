"""Frozen settings of the Lens; the gateway builds one from its config file."""

from __future__ import annotations

from typing import Literal

import msgspec

TestSource = Literal["request", "prompt", "generated"]

DEFAULT_SOURCE_WEIGHTS: dict[str, float] = {"request": 1.0, "prompt": 1.0, "generated": 0.3}


class LensSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the Lens needs; no field reaches outside `lens/`."""

    # Embedding width; taken from the embedding engine (896 for Qwen2.5-Coder-0.5B).
    dim: int = 896
    hidden: tuple[int, ...] = (512, 128)
    checkpoint_dir: str = "var/lens"
    keep_checkpoints: int = 5
    redis_prefix: str = "lens:"
    store_max_examples: int = 20_000
    embedding_cache_ttl_s: int = 7 * 24 * 3600
    # Weight of each verdict source in the losses; 0 excludes the source.
    source_weights: dict[str, float] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_SOURCE_WEIGHTS))
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
    # Threads
    torch_threads: int = 1
    score_workers: int = 2
    # Experimental metric correction dx = -alpha G^-1 grad C, scored at x + dx.
    metric_correction: bool = False
    metric_alpha: float = 0.1

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError("lens.dim must be positive")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError("lens.hidden must list positive widths")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError("lens.val_fraction must be in (0, 1)")
        for name in ("train_every", "min_train_examples", "epochs", "patience",
                     "problems_per_batch", "torch_threads", "score_workers",
                     "store_max_examples", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"lens.{name} must be at least 1")
        unknown = set(self.source_weights) - set(DEFAULT_SOURCE_WEIGHTS)
        if unknown:
            raise ValueError(f"lens.source_weights has unknown sources {sorted(unknown)}")
        if any(w < 0 for w in self.source_weights.values()):
            raise ValueError("lens.source_weights must not be negative")

    def source_weight(self, source: str) -> float:
        return self.source_weights.get(source, DEFAULT_SOURCE_WEIGHTS.get(source, 0.0))
