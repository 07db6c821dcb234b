"""Fixtures for tests that run real nsjail: a ready sandbox, or a skip/fail that says why."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from sandbox import Limits, Sandbox, SandboxConfig
from sandbox.backends import NsjailBackend

# Run cgroups of this test session: processes of other sessions on the machine are not ours.
CGROUP_TAG = f"atlas-test{os.getpid()}"

# Wall time 2.5x CPU time: a spinning attack hits its CPU limit even on a busy machine.
ATTACK_LIMITS = Limits(
    wall_time_s=2.5, cpu_time_s=1, memory_mb=128, output_bytes=64 * 1024, tmpfs_mb=16, max_pids=32
)


@pytest.fixture(scope="session")
def ready_sandbox() -> Iterator[Sandbox]:
    """One self-checked sandbox per session; as root its absence is a failure, not a skip."""
    sandbox = asyncio.run(Sandbox.create(SandboxConfig(limits=ATTACK_LIMITS)))
    if isinstance(sandbox.backend, NsjailBackend):
        sandbox.backend.cgroup_tag = CGROUP_TAG
    if not sandbox.available:
        message = f"nsjail sandbox unavailable: {sandbox.availability.reason}"
        if os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message + " (needs root)")
    yield sandbox
    asyncio.run(sandbox.close())


def has_cgroups(sandbox: Sandbox) -> bool:
    backend = sandbox.backend
    return isinstance(backend, NsjailBackend) and backend.cgroups.enabled


def require(sandbox: Sandbox, language: str) -> None:
    """Skip where the machine lacks a language's toolchain (the sandbox reports it so)."""
    status = sandbox.availability.languages.get(language)
    if status != "ok":
        pytest.skip(f"{language} unavailable here: {status}")


@pytest.fixture
def sandbox(ready_sandbox: Sandbox) -> Sandbox:
    """A fresh Sandbox (own pool, bound to this test's loop) sharing the checked backend."""
    fresh = Sandbox(ready_sandbox.config, ready_sandbox.backend, ready_sandbox.toolchains)
    fresh.availability = ready_sandbox.availability
    return fresh
