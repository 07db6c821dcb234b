"""Keys of older config files, moved to where they live now, with a warning.

Each deprecated key keeps working: it is moved before validation and a warning names
its new place. Given together with its replacement, it is an error naming the new key
(which of the two should win is not ours to guess). Imports nothing of ATLAS outside config.
"""

from __future__ import annotations

import logging
from typing import Any

from config.errors import ConfigError

logger = logging.getLogger(__name__)

# [sandbox] keys that now live in [sandbox.limits].
FLAT_LIMIT_KEYS = ("wall_time_s", "cpu_time_s", "memory_mb", "per_test_s")


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` (TOML data) with deprecated keys moved; nested input is copied, not changed."""
    upgraded = dict(raw)
    if isinstance(raw.get("sandbox"), dict):
        upgraded["sandbox"] = _sandbox(raw["sandbox"])
    if isinstance(raw.get("models"), list):
        upgraded["models"] = [
            _model(model, index) if isinstance(model, dict) else model
            for index, model in enumerate(raw["models"])
        ]
    return upgraded


def _sandbox(section: dict[str, Any]) -> dict[str, Any]:
    flat = [key for key in FLAT_LIMIT_KEYS if key in section]
    if not flat:
        return section
    limits = section.get("limits", {})
    if not isinstance(limits, dict):
        raise ConfigError("sandbox.limits: expected a table")
    for key in flat:
        if key in limits:
            raise ConfigError(
                f"sandbox.limits.{key}: also given as the deprecated sandbox.{key}; "
                f"keep only [sandbox.limits] {key}"
            )
        logger.warning("config: [sandbox] %s is deprecated; use [sandbox.limits] %s", key, key)
    rest = {key: value for key, value in section.items() if key not in flat}
    return {**rest, "limits": {**limits, **{key: section[key] for key in flat}}}


def _model(model: dict[str, Any], index: int) -> dict[str, Any]:
    if "best_of_k" not in model:
        return model
    where = f"models[{index}]"
    legacy = model["best_of_k"]
    if "strategy" in model:
        raise ConfigError(
            f"{where}.strategy: also given as the deprecated {where}.best_of_k; "
            "keep only [models.strategy]"
        )
    if not isinstance(legacy, dict):
        raise ConfigError(
            f"{where}.best_of_k: expected a table (deprecated; use [models.strategy])"
        )
    if "type" in legacy:
        raise ConfigError(
            f"{where}.best_of_k.type: unknown key (the deprecated [models.best_of_k] has no "
            "type; use [models.strategy])"
        )
    logger.warning(
        'config: %s: [models.best_of_k] is deprecated; use [models.strategy] type = "best_of_k"',
        where,
    )
    rest = {key: value for key, value in model.items() if key != "best_of_k"}
    # Its k defaulted to 1 (pass-through unless a client forces k); best_of_k's is 5.
    return {**rest, "strategy": {"k": 1, **legacy, "type": "best_of_k"}}
