"""Typed settings and their loader. Imports nothing else of ATLAS.

Each setting is defined once, here: `sandbox/` and `lens/` take `SandboxSettings`,
`SandboxLimits` and `LensSettings` as they are.
"""

from config.errors import ConfigError
from config.lens import LensSettings
from config.loader import load_settings, masked
from config.redis import RedisSettings
from config.sandbox import SandboxLimits, SandboxSettings
from config.settings import (
    ModelSettings,
    ServerSettings,
    Settings,
    UpstreamClientSettings,
    UpstreamSettings,
)
from config.strategy import (
    MAX_REPAIR_ROUNDS,
    STRATEGY_TYPES,
    BestOfKSettings,
    PassThroughSettings,
    PatternCacheSettings,
    RouterSettings,
    StrategySettings,
    best_of_k_settings,
)

__all__ = [
    "MAX_REPAIR_ROUNDS",
    "STRATEGY_TYPES",
    "BestOfKSettings",
    "ConfigError",
    "LensSettings",
    "ModelSettings",
    "PassThroughSettings",
    "PatternCacheSettings",
    "RedisSettings",
    "RouterSettings",
    "SandboxLimits",
    "SandboxSettings",
    "ServerSettings",
    "Settings",
    "StrategySettings",
    "UpstreamClientSettings",
    "UpstreamSettings",
    "best_of_k_settings",
    "load_settings",
    "masked",
]
