"""Finding the deploy validators (dev dependencies in pyproject.toml) and running them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# The Kubernetes version the manifests are validated against (kubernetes-validate bundles
# the schemas of 1.25 to 1.37); 1.30 is the oldest release with appArmorProfile fields.
KUBERNETES_VERSION = "1.30.0"
VALIDATOR_TIMEOUT_S = 120
# What nsjail needs in a container (test_sandbox_capabilities.py shows each is needed and
# that these are enough); the compose file and the gateway Deployment grant exactly these.
NSJAIL_CAPABILITIES = frozenset({"SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE"})


def tool(name: str) -> str:
    """The validator's path: beside this interpreter (the venv), else on PATH.

    A missing validator fails the test: `make test` installs them with '.[dev]'."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found beside {sys.executable} or on PATH: it is a dev dependency "
            "(pyproject.toml [project.optional-dependencies] dev); run `make test`, or "
            "`.venv/bin/pip install -e '.[dev]'`"
        )
    return found


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=VALIDATOR_TIMEOUT_S,
        check=False,
    )


def assert_passes(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def assert_fails(result: subprocess.CompletedProcess[str], expected: str) -> None:
    """The validator is live: it rejects a broken copy and says why."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{' '.join(result.args)} accepted a broken file:\n{output}"
    assert expected in output, output
