from __future__ import annotations

import os

import msgspec
import pytest

import config
from sandbox import DEFAULT_COMPILE_LIMITS, DEFAULT_LIMITS, Limits, SandboxConfig


def test_defaults_are_safe() -> None:
    config = SandboxConfig()
    assert config.backend == "nsjail"
    assert config.concurrency() == (os.cpu_count() or 1)
    assert SandboxConfig(max_concurrency=3).concurrency() == 3


@pytest.mark.parametrize(
    "bad", [{"wall_time_s": 0}, {"memory_mb": 1}, {"max_pids": 0}, {"output_bytes": 10}]
)
def test_bad_limits_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="sandbox limits"):
        Limits(**bad)  # type: ignore[arg-type]


def test_config_decodes_from_settings_and_rejects_unknown_backends() -> None:
    config = msgspec.convert(
        {"backend": "unsafe-subprocess", "limits": {"memory_mb": 64}}, SandboxConfig
    )
    assert config.limits.memory_mb == 64
    with pytest.raises(msgspec.ValidationError, match="backend"):
        msgspec.convert({"backend": "docker"}, SandboxConfig)


def test_the_sandbox_takes_configs_structs_and_defaults() -> None:
    # One definition: what the gateway's [sandbox] table decodes to is what Sandbox takes.
    assert SandboxConfig is config.SandboxSettings and Limits is config.SandboxLimits
    assert SandboxConfig().limits == DEFAULT_LIMITS == config.SandboxSettings().limits
    assert SandboxConfig().compile_limits is DEFAULT_COMPILE_LIMITS
    assert (
        DEFAULT_LIMITS.wall_time_s,
        DEFAULT_LIMITS.cpu_time_s,
        DEFAULT_LIMITS.memory_mb,
        DEFAULT_LIMITS.per_test_s,
    ) == (5.0, 3, 512, 1.0)
