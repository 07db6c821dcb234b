"""The machine as the check sees it: PATH, the loader's library directories, who we are.

Probes only look (`shutil.which`, `os.path.isfile`): no subprocess, so a check of a
machine that has everything costs a few milliseconds. The one side effect, installing,
goes through apt-get as found on PATH.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prereqs.needs import Need

# Where Debian's loader finds libraries besides LD_LIBRARY_PATH (ld.so.conf's multiarch
# directories, then the classic ones).
_LIB_ROOTS = ("/lib", "/usr/lib", "/usr/local/lib")
APT_TIMEOUT_S = 1800


class InstallFailedError(Exception):
    """apt-get ran and failed; the message has its exit code."""


@dataclass(frozen=True, slots=True)
class System:
    """What the probes read: the PATH to search, the file system's root (`/`, or a
    directory laid out like one), and who runs the check."""

    path: str
    root: str = "/"
    euid: int = 0
    ld_library_path: str = ""

    @classmethod
    def current(cls, environ: Mapping[str, str], root: str = "/") -> System:
        return cls(
            path=environ.get("PATH", os.defpath),
            root=root,
            euid=os.geteuid(),
            ld_library_path=environ.get("LD_LIBRARY_PATH", "") if root == "/" else "",
        )

    def has(self, need: Need) -> bool:
        if need.kind == "program":
            return self.which(need.target) is not None
        if need.kind == "file":
            return os.path.isfile(self._under_root(need.target))
        return any(os.path.isfile(os.path.join(d, need.target)) for d in self.lib_dirs())

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self.path)

    def lib_dirs(self) -> list[str]:
        """LD_LIBRARY_PATH, then where Debian's loader looks (multiarch, then classic)."""
        triplet = f"{platform.machine()}-linux-gnu"
        standard = [os.path.join(r, triplet) for r in _LIB_ROOTS]
        standard += ["/lib64", "/usr/lib64", *_LIB_ROOTS]
        extra = [d for d in self.ld_library_path.split(":") if d]
        return extra + [self._under_root(d) for d in standard]

    def _under_root(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))


def install_command(packages: Sequence[str], *, as_root: bool) -> list[str]:
    """The exact apt-get line that installs `packages` (with sudo when not root)."""
    return [*([] if as_root else ["sudo"]), "apt-get", "install", "-y", *packages]


def apt_install(system: System, packages: Sequence[str]) -> None:
    """Install as root with the apt-get on PATH; on failure refresh the package lists
    once (a fresh image has none, an old one names files gone from the mirror)."""
    apt_get = system.which("apt-get")
    if apt_get is None:
        raise InstallFailedError("apt-get is not on PATH")
    env = {**os.environ, "PATH": system.path, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-qq", *packages]
    if _run(install, env) == 0:
        return
    _run([apt_get, "update", "-qq"], env)
    code = _run(install, env)
    if code != 0:
        raise InstallFailedError(f"`{' '.join(install)}` failed with exit code {code}")


def _run(argv: Sequence[str], env: Mapping[str, str]) -> int:
    try:
        return subprocess.run(argv, env=env, check=False, timeout=APT_TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        return 124


__all__ = ["InstallFailedError", "System", "apt_install", "install_command"]
