from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sandbox.cgroups import setup
from sandbox.languages import BOX, Toolchain, discover, traversable_by_others


def test_missing_toolchains_report_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    found = discover(python_path="/nonexistent/python3")
    assert found["javascript"] == "node not found"
    assert found["c"] == "gcc not found" and found["cpp"] == "g++ not found"
    assert found["bash"] == "bash not found"
    assert isinstance(found["python"], str) and "no Python interpreter" in found["python"]


def test_python_runs_isolated_and_binds_no_root() -> None:
    python = discover(None)["python"]
    if not isinstance(python, Toolchain):
        pytest.skip(python)
    assert python.run_argv[1:] == ("-I", "-B", f"{BOX}/main.py")
    assert all(m.src != "/" and m.dst != "/" for m in python.run_mounts)


def test_paths_the_jail_user_cannot_reach_are_refused(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "python3").write_text("")
    assert traversable_by_others("/usr/bin/env")
    assert not traversable_by_others(str(private / "python3"))


def test_cgroups_degrade_to_rlimits_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    support = setup("/sys/fs/cgroup")
    assert not support.enabled and "not root" in support.reason


def test_cgroups_degrade_without_the_controllers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root gets as far as the controllers")
    support = setup(str(tmp_path) + "/missing")
    assert not support.enabled and "cgroup memory" in support.reason


def test_c_and_cpp_build_as_the_user_would_on_the_compilers_defaults() -> None:
    """No optimisation level or language standard the user's `gcc main.c` would not use."""
    found = discover(None)
    for language in ("c", "cpp"):
        toolchain = found[language]
        if isinstance(toolchain, str):
            pytest.skip(toolchain)
        assert toolchain.compile_argv is not None
        flags = [a for a in toolchain.compile_argv[1:] if a.startswith("-")]
        assert not [f for f in flags if f.startswith(("-O", "-std", "-D", "-W", "-f"))], flags
