"""The sandbox's configuration and resource limits: config/'s structs, under sandbox names.

`Limits` and `SandboxConfig` are `config.sandbox.SandboxLimits` and `SandboxSettings`
themselves, so the gateway passes `settings.sandbox` straight in and there is one set
of defaults.
"""

from __future__ import annotations

from typing import Literal

from config.sandbox import DEFAULT_COMPILE_LIMITS, DEFAULT_LIMITS
from config.sandbox import SandboxBackend as Backend
from config.sandbox import SandboxLimits as Limits
from config.sandbox import SandboxSettings as SandboxConfig

Language = Literal["python", "javascript", "c", "cpp", "bash"]
LANGUAGES: tuple[Language, ...] = ("python", "javascript", "c", "cpp", "bash")

__all__ = [
    "DEFAULT_COMPILE_LIMITS",
    "DEFAULT_LIMITS",
    "LANGUAGES",
    "Backend",
    "Language",
    "Limits",
    "SandboxConfig",
]
