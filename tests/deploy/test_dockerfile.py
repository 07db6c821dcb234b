"""The Dockerfile installs what the README's set-up installs, and nothing else.

The set-up's system packages are prereqs/needs.py's group "run" (what `make run` checks
and the README names); its Python dependencies are pyproject.toml's, installed with
`pip install .`. The image must carry exactly those Debian packages, install the project
with `pip install .` and no other pip line, copy every package pyproject installs, and
run the Python version .python-version pins. hadolint lints it."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from prereqs.needs import GROUPS
from tests.deploy.tools import ROOT, assert_fails, assert_passes, run, tool

DOCKERFILE = ROOT / "Dockerfile"
# Packages pyproject installs that the image leaves out, and why.
NOT_IN_IMAGE = {"bench": "the benchmarks run from a checkout, not from the gateway image"}
RUN_PACKAGES = frozenset(need.package for need in GROUPS["run"] if not need.optional)


@dataclass(frozen=True)
class Image:
    base: str
    apt_packages: frozenset[str]
    pip_installs: tuple[tuple[str, ...], ...]
    copied: frozenset[str]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each logical line: continuations joined, comments out."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    found = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def commands(shell: str) -> list[list[str]]:
    """The simple commands of a RUN line, split at &&, || and ;."""
    parts = re.split(r"&&|\|\||;", shell)
    return [shlex.split(part) for part in parts if part.strip()]


def parse(text: str) -> Image:
    base = ""
    apt: set[str] = set()
    pip: list[tuple[str, ...]] = []
    copied: set[str] = set()
    for keyword, args in instructions(text):
        if keyword == "FROM":
            base = args.split()[0]
        elif keyword == "COPY":
            sources = [a for a in shlex.split(args) if not a.startswith("--")][:-1]
            copied.update(Path(s).parts[0] for s in sources)
        elif keyword == "RUN":
            for argv in commands(args):
                if argv[:2] == ["apt-get", "install"]:
                    apt.update(a for a in argv[2:] if not a.startswith("-"))
                elif argv[:1] in (["pip"], ["pip3"]) and "install" in argv:
                    after = argv[argv.index("install") + 1 :]
                    pip.append(tuple(a for a in after if not a.startswith("-")))
    return Image(base, frozenset(apt), tuple(pip), frozenset(copied))


def drift(text: str) -> list[str]:
    """Every way the Dockerfile `text` differs from the README's set-up; empty if none."""
    image = parse(text)
    problems: list[str] = []
    if image.apt_packages != RUN_PACKAGES:
        problems.append(
            f"apt packages {sorted(image.apt_packages)} != prereqs' run group "
            f"{sorted(RUN_PACKAGES)} (missing {sorted(RUN_PACKAGES - image.apt_packages)}, "
            f"extra {sorted(image.apt_packages - RUN_PACKAGES)})"
        )
    if image.pip_installs != ((".",),):
        problems.append(f"pip installs {image.pip_installs}: expected one `pip install .`")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    missing = wanted - set(NOT_IN_IMAGE) - image.copied
    if missing:
        problems.append(
            f"packages pyproject installs but the image does not copy: {sorted(missing)}"
        )
    if "pyproject.toml" not in image.copied:
        problems.append("pyproject.toml is not copied")
    pinned = ".".join((ROOT / ".python-version").read_text().strip().split(".")[:2])
    if not re.fullmatch(rf"python:{re.escape(pinned)}(-[a-z]+)*", image.base):
        problems.append(f"base image {image.base!r} is not python:{pinned}-* (.python-version)")
    return problems


def test_the_dockerfile_installs_the_readme_set_up() -> None:
    assert drift(DOCKERFILE.read_text()) == []


def test_the_readme_names_the_packages_make_run_checks() -> None:
    readme = (ROOT / "README.md").read_text()
    set_up = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert {p for p in RUN_PACKAGES if f"`{p}`" not in set_up} == set()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("libnl-route-3-200 python3", "libnl-route-3-200"), "missing ['python3']"),
        (("libnl-route-3-200 python3", "libnl-route-3-200 python3 curl"), "extra ['curl']"),
        (("RUN pip install .", "RUN pip install . requests"), "expected one `pip install .`"),
        (("RUN pip install .", "RUN pip install .\nRUN pip install hypothesis"), "pip installs"),
        (("COPY sandbox ./sandbox\n", ""), "does not copy: ['sandbox']"),
        (("FROM python:3.12-slim", "FROM python:3.11-slim"), "is not python:3.12-*"),
    ],
)
def test_drift_is_caught(change: tuple[str, str], expected: str) -> None:
    text = DOCKERFILE.read_text()
    assert change[0] in text
    problems = drift(text.replace(change[0], change[1], 1))
    assert any(expected in p for p in problems), problems


def test_hadolint_passes(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    assert_passes(run(hadolint, str(DOCKERFILE)))
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("WORKDIR /app", "RUN cd /app"))
    assert_fails(run(hadolint, str(broken)), "DL3003")
