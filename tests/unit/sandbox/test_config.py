from __future__ import annotations

import os

import msgspec
import pytest

from sandbox import Limits, SandboxConfig


def test_defaults_are_safe() -> None:
    config = SandboxConfig()
    assert config.backend == "nsjail"
    assert config.concurrency() == (os.cpu_count() or 1)
    assert SandboxConfig(max_concurrency=3).concurrency() == 3


@pytest.mark.parametrize("bad", [{"wall_time_s": 0}, {"memory_mb": 1}, {"max_pids": 0},
                                 {"output_bytes": 10}])
def test_bad_limits_are_rejected(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="sandbox limits"):
        Limits(**bad)  # type: ignore[arg-type]


def test_config_decodes_from_settings_and_rejects_unknown_backends() -> None:
    config = msgspec.convert({"backend": "unsafe-subprocess", "limits": {"memory_mb": 64}},
                             SandboxConfig)
    assert config.limits.memory_mb == 64
    with pytest.raises(msgspec.ValidationError, match="backend"):
        msgspec.convert({"backend": "docker"}, SandboxConfig)
