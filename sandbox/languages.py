"""Toolchains: which host paths each language needs inside the jail, and its commands."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal

from sandbox.config import Language

logger = logging.getLogger(__name__)

NODE_MIN_ADDRESS_SPACE_MB = 1024
BOX = "{box}"  # replaced by the backend with the per-run directory as the program sees it
SYSTEM_LIB_DIRS = (
    "/lib",
    "/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib/aarch64-linux-gnu",
)


@dataclass(frozen=True)
class Mount:
    src: str
    dst: str
    kind: Literal["bind", "symlink"] = "bind"


@dataclass(frozen=True)
class Toolchain:
    language: Language
    source_name: str
    run_argv: tuple[str, ...]
    run_mounts: tuple[Mount, ...]
    compile_argv: tuple[str, ...] | None = None
    compile_mounts: tuple[Mount, ...] = ()
    artifact: str | None = None
    # V8 reserves more address space than it uses and hangs when it cannot: node gets at
    # least this much RLIMIT_AS; the cgroup limit (when present) still bounds real memory.
    min_address_space_mb: int = 0


def _same(path: str) -> Mount:
    return Mount(path, path)


def system_lib_mounts() -> tuple[Mount, ...]:
    """Shared libraries and the loader; merged-/usr symlinks are recreated, not bound."""
    mounts: list[Mount] = []
    for path in SYSTEM_LIB_DIRS:
        if os.path.islink(path):
            mounts.append(Mount(os.readlink(path), path, "symlink"))
        elif os.path.isdir(path):
            mounts.append(_same(path))
    return tuple(mounts)


def _usr_mounts() -> tuple[Mount, ...]:
    """All of /usr (read-only) plus /bin, /lib, /lib64: for compilers and bash's coreutils."""
    mounts = [_same("/usr")]
    if os.path.isdir("/etc/alternatives"):
        mounts.append(_same("/etc/alternatives"))  # Debian's awk, cc, ... are links through it
    for path in ("/bin", "/lib", "/lib64"):
        if os.path.islink(path):
            mounts.append(Mount(os.readlink(path), path, "symlink"))
        elif os.path.isdir(path):
            mounts.append(_same(path))
    return tuple(mounts)


def traversable_by_others(path: str) -> bool:
    """nsjail mounts as the unmapped jail user: every ancestor needs o+x, the file o+r."""
    real = os.path.realpath(path)
    parts = real.split("/")
    for depth in range(1, len(parts)):
        ancestor = "/".join(parts[:depth]) or "/"
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(real).st_mode & stat.S_IROTH)


def _python_layout(executable: str) -> tuple[str, str] | None:
    """(real executable, stdlib directory) of a usable interpreter, else None."""
    if not os.path.exists(executable) or not traversable_by_others(executable):
        return None
    probe = "import sysconfig; print(sysconfig.get_path('stdlib'))"
    try:
        done = subprocess.run(
            [executable, "-S", "-I", "-c", probe],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env={},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("sandbox: python %s is not usable: %s", executable, exc)
        return None
    stdlib = done.stdout.strip()
    if not os.path.isdir(stdlib) or not traversable_by_others(stdlib):
        return None
    return os.path.realpath(executable), stdlib


def python_toolchain(preferred: str | None) -> Toolchain | str:
    candidates = (
        [preferred]
        if preferred
        else ["/usr/bin/python3", getattr(sys, "_base_executable", sys.executable)]
    )
    for candidate in candidates:
        layout = _python_layout(candidate)
        if layout is None:
            continue
        exe, stdlib = layout
        return Toolchain(
            language="python",
            source_name="main.py",
            # No -S: the user's `python3 file.py` imports site (exit, quit, help).
            run_argv=(exe, "-I", "-B", f"{BOX}/main.py"),
            run_mounts=(_same(exe), _same(stdlib), *system_lib_mounts()),
        )
    return f"no Python interpreter readable by the jail user among {candidates}"


def _binary_toolchain(
    language: Language, compiler: str, flags: tuple[str, ...], source: str
) -> Toolchain | str:
    path = shutil.which(compiler)
    if path is None:
        return f"{compiler} not found"
    return Toolchain(
        language=language,
        source_name=source,
        run_argv=(f"{BOX}/prog",),
        run_mounts=system_lib_mounts(),
        compile_argv=(path, *flags, "-o", f"{BOX}/prog", f"{BOX}/{source}", "-lm"),
        compile_mounts=_usr_mounts(),
        artifact="prog",
    )


def discover(python_path: str | None) -> dict[Language, Toolchain | str]:
    """Every language mapped to its toolchain, or to the reason it is unavailable."""
    found: dict[Language, Toolchain | str] = {"python": python_toolchain(python_path)}
    node = shutil.which("node")
    found["javascript"] = (
        "node not found"
        if node is None
        else Toolchain(
            language="javascript",
            source_name="main.js",
            run_argv=(os.path.realpath(node), f"{BOX}/main.js"),
            run_mounts=(_same(os.path.realpath(node)), *system_lib_mounts()),
            min_address_space_mb=NODE_MIN_ADDRESS_SPACE_MB,
        )
    )
    # The compiler's defaults (standard, no optimisation), as `gcc main.c -lm` would build
    # it for the user: flags that change behaviour (UB under -O) would judge other code.
    found["c"] = _binary_toolchain("c", "gcc", ("-pipe",), "main.c")
    found["cpp"] = _binary_toolchain("cpp", "g++", ("-pipe",), "main.cpp")
    bash = shutil.which("bash")
    found["bash"] = (
        "bash not found"
        if bash is None
        else Toolchain(
            language="bash",
            source_name="main.sh",
            run_argv=(os.path.realpath(bash), f"{BOX}/main.sh"),
            run_mounts=_usr_mounts(),
        )
    )
    return found
