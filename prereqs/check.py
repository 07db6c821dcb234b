"""`python -m prereqs GROUP...`: make sure the system has what a set-up command needs.

Everything present: silent, exit 0, in milliseconds (it runs before every `make test`).
Something required missing: as root with apt-get, install it (and say so); otherwise
print the exact command to run and exit 1 at once, before any long step. Optional needs
are installed only with --install-optional (CI), else named in one warning line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from prereqs.needs import GROUPS, Need
from prereqs.system import InstallFailedError, System, apt_install, install_command

EXIT_OK = 0
EXIT_MISSING = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class Missing:
    """The needs a probe did not find, split by whether they stop the command."""

    required: tuple[Need, ...]
    optional: tuple[Need, ...]

    @property
    def required_packages(self) -> list[str]:
        return _packages(self.required)

    @property
    def optional_packages(self) -> list[str]:
        return [p for p in _packages(self.optional) if p not in self.required_packages]


def needs_of(groups: Iterable[str]) -> tuple[Need, ...]:
    """The needs of these groups, each once, in order."""
    return tuple(dict.fromkeys(need for group in groups for need in GROUPS[group]))


def find_missing(needs: Sequence[Need], system: System) -> Missing:
    absent = [need for need in needs if not system.has(need)]
    return Missing(
        required=tuple(n for n in absent if not n.optional),
        optional=tuple(n for n in absent if n.optional),
    )


def ensure(
    groups: Sequence[str], system: System, *, install_optional: bool = False, out: TextIO
) -> int:
    """Check, install what can be installed, report the rest; return the exit code."""
    needs = needs_of(groups)
    missing = find_missing(needs, system)
    wanted = missing.required_packages
    if install_optional:
        wanted += missing.optional_packages
    if wanted and system.euid == 0 and system.which("apt-get") is not None:
        _say(out, f"installing {' '.join(wanted)} ({_reasons(missing, wanted)})")
        try:
            apt_install(system, wanted)
        except InstallFailedError as exc:
            _say(out, f"install failed: {exc}")
        missing = find_missing(needs, system)
    if missing.optional:
        _say(out, f"optional, not installed: {_describe(missing.optional)}; to add them:")
        out.write(_command_line(missing.optional_packages, system))
    if missing.required:
        _say(out, f"missing for `{' '.join(groups)}`: {_describe(missing.required)}")
        _say(out, "install with this, then run the command again:")
        out.write(_command_line(missing.required_packages, system))
        return EXIT_MISSING
    return EXIT_OK


def _packages(needs: Iterable[Need]) -> list[str]:
    return list(dict.fromkeys(need.package for need in needs))


def _describe(needs: Iterable[Need]) -> str:
    return ", ".join(
        f"{n.target} ({n.why})" if n.target == n.package else f"{n.target} ({n.package}: {n.why})"
        for n in needs
    )


def _reasons(missing: Missing, packages: Sequence[str]) -> str:
    return "; ".join(
        f"{n.package}: {n.why}"
        for n in (*missing.required, *missing.optional)
        if n.package in packages
    )


def _command_line(packages: Sequence[str], system: System) -> str:
    line = "    " + " ".join(install_command(packages, as_root=system.euid == 0)) + "\n"
    if system.which("apt-get") is None:
        line += "    (Debian's package names: without apt-get, use this system's own)\n"
    return line


def _say(out: TextIO, message: str) -> None:
    out.write(f"atlas setup: {message}\n")
    out.flush()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m prereqs", description="check and install ATLAS's system packages"
    )
    parser.add_argument("groups", nargs="+", choices=sorted(GROUPS), help="what is set up")
    parser.add_argument(
        "--install-optional", action="store_true", help="as root, install optional ones too"
    )
    parser.add_argument(
        "--root",
        default="/",
        help="look for files and libraries under this directory, laid out like / (tests)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return EXIT_USAGE if exc.code else EXIT_OK
    system = System.current(os.environ if environ is None else environ, args.root)
    return ensure(args.groups, system, install_optional=args.install_optional, out=sys.stderr)


__all__ = ["EXIT_MISSING", "EXIT_OK", "EXIT_USAGE", "Missing", "ensure", "find_missing", "main"]
