"""The sandbox works with exactly the capabilities deploy/ grants the gateway.

Each case runs the real sandbox (start-up self-check, a C program compiled in one jail
and run in another, a Python check) in a child process as root with only the given
capabilities in its bounding set (util-linux's setpriv), no new privileges, and no
cgroupfs (as in a container, where /sys/fs/cgroup is read-only: rlimits only). With the
four capabilities all of it works and leaves nothing behind; without any one of them
something breaks, so none is granted for nothing. Seccomp and AppArmor are the
container runtime's and cannot be reproduced here (the Dockerfile says why they must be
unconfined). CAP_SYS_ADMIN is never among them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.tools import NSJAIL_CAPABILITIES, ROOT

pytestmark = [pytest.mark.nsjail, pytest.mark.slow]

PROBE = """
import asyncio, json, os, sys
from sandbox import Program, Sandbox, SandboxConfig, TestCase

async def main():
    workdir = sys.argv[1]
    sandbox = await Sandbox.create(SandboxConfig(cgroup_root="/nonexistent", workdir=workdir))
    found = {"available": sandbox.available, "reason": sandbox.availability.reason}
    if sandbox.available:
        try:
            c = await sandbox.run(Program(language="c", code='int main(void){return 42-42;}'))
            found["c"] = c.passed
        except OSError as exc:
            found["c"] = f"{type(exc).__name__}: {exc}"
        py = await sandbox.check("def f(x):\\n    return 2 * x\\n",
                                 [TestCase(kind="assert", code="assert f(2) == 4")], "python")
        found["python"] = py.passed
    await sandbox.close()
    found["left_behind"] = sorted(os.listdir(workdir))
    print(json.dumps(found))

asyncio.run(main())
"""


def probe(capabilities: frozenset[str], workdir: Path) -> dict[str, object]:
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to drop capabilities"
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in sorted(capabilities))])
    argv = [setpriv, "--no-new-privs", "--inh-caps=-all", f"--bounding-set={bounding}"]
    done = subprocess.run(
        [*argv, sys.executable, "-c", PROBE, str(workdir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.fixture
def workdir() -> Iterator[Path]:
    """The sandbox's per-run directory: its parents must be traversable by the jail
    user, so the system temp dir itself rather than pytest's private tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("needs root: only root can hand capabilities to a child")
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc: the C compile is what needs CHOWN and DAC_OVERRIDE")
    path = Path(tempfile.mkdtemp(prefix="atlas-deploy-caps-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_granted_capabilities_are_enough(workdir: Path) -> None:
    found = probe(NSJAIL_CAPABILITIES, workdir)
    assert found == {
        "available": True,
        "reason": "",
        "c": True,
        "python": True,
        "left_behind": [],
    }


@pytest.mark.parametrize("dropped", sorted(NSJAIL_CAPABILITIES))
def test_each_capability_is_needed(dropped: str, workdir: Path) -> None:
    found = probe(NSJAIL_CAPABILITIES - {dropped}, workdir)
    if dropped in ("SETUID", "SETGID"):  # the jail user's uid/gid map: no jail at all
        assert found["available"] is False, found
        reason = str(found["reason"])  # how nsjail's failure reads depends on the step
        assert reason.startswith(("jail does not start here", "self-check program failed"))
    elif dropped == "CHOWN":  # the compile box cannot be handed to the jail user
        assert "PermissionError" in str(found["c"]), found
    else:  # DAC_OVERRIDE: what the jail user wrote in a box cannot be removed
        assert found["c"] is True and found["left_behind"], found
