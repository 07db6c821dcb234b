"""Typed settings and their loader. Imports nothing else of ATLAS."""

from config.loader import ConfigError, load_settings, masked
from config.settings import (
    BestOfKSettings,
    LensConfig,
    ModelSettings,
    SandboxSettings,
    ServerSettings,
    Settings,
    UpstreamClientSettings,
    UpstreamSettings,
)

__all__ = [
    "BestOfKSettings",
    "ConfigError",
    "LensConfig",
    "ModelSettings",
    "SandboxSettings",
    "ServerSettings",
    "Settings",
    "UpstreamClientSettings",
    "UpstreamSettings",
    "load_settings",
    "masked",
]
