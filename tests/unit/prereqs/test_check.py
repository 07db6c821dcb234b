"""The system check on a machine laid out in a temp dir: its PATH a bin/ of stub programs,
its / a root/ with libraries and files, and a scripted apt-get that records each call and
"installs" a package by creating what it provides."""

from __future__ import annotations

import ast
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from prereqs import EXIT_MISSING, EXIT_OK, EXIT_USAGE, GROUPS, Need, System, ensure, main

ROOT = Path(__file__).resolve().parents[3]
CHMOD = shutil.which("chmod") or "/bin/chmod"
MKDIR = shutil.which("mkdir") or "/bin/mkdir"
LIB_DIR = "usr/lib"  # one of the loader's classic directories, on any architecture
ALL_GROUPS = tuple(GROUPS)


class Machine:
    """A machine in a temp dir: bin/ is its whole PATH, root/ stands for /."""

    def __init__(self, tmp: Path) -> None:
        self.bin = tmp / "bin"
        self.root = tmp / "root"
        self.apt_log = tmp / "apt.log"
        self._updated = tmp / "apt.updated"
        self.bin.mkdir()
        (self.root / LIB_DIR).mkdir(parents=True)

    def provide(self, needs: Iterable[Need]) -> None:
        for need in needs:
            path = self._where(need)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("#!/bin/sh\n")
            path.chmod(0o755)

    def provide_all(self, groups: Iterable[str] = ALL_GROUPS) -> None:
        self.provide(need for group in groups for need in GROUPS[group])

    def apt_get(self, *, needs_update: bool = False, broken: bool = False) -> None:
        """A scripted apt-get: `update` marks the lists fresh; `install` fails while they
        are not (with needs_update) or always (broken), else creates each package's files."""
        cases = {}
        for group in GROUPS.values():
            for need in group:
                path = self._where(need)
                step = f'{MKDIR} -p "{path.parent}" && : > "{path}" && {CHMOD} +x "{path}"'
                cases.setdefault(need.package, []).append(step)
        stale = f'[ -e "{self._updated}" ] || {{ echo "E: Unable to locate" >&2; exit 100; }}'
        branches = "\n".join(f"    {pkg}) {'; '.join(steps)} ;;" for pkg, steps in cases.items())
        script = f"""#!/bin/sh
echo "$*" >> "{self.apt_log}"
if [ "$1" = update ]; then : > "{self._updated}"; exit 0; fi
[ "$1" = install ] || exit 64
{"exit 100" if broken else ""}
{stale if needs_update else ""}
shift
for arg; do
  case "$arg" in
{branches}
  esac
done
"""
        apt = self.bin / "apt-get"
        apt.write_text(script)
        apt.chmod(0o755)

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []

    def system(self, *, euid: int) -> System:
        return System(path=str(self.bin), root=str(self.root), euid=euid)

    def _where(self, need: Need) -> Path:
        if need.kind == "program":
            return self.bin / need.target
        if need.kind == "library":
            return self.root / LIB_DIR / need.target
        return self.root / need.target.lstrip("/")


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def check(machine: Machine, *groups: str, euid: int, optional: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = ensure(groups, machine.system(euid=euid), install_optional=optional, out=out)
    return code, out.getvalue()


def test_everything_present_is_a_silent_no_op_in_milliseconds(machine: Machine) -> None:
    machine.provide_all()
    machine.apt_get()
    started = time.perf_counter()
    code, said = check(machine, *ALL_GROUPS, euid=0)
    elapsed = time.perf_counter() - started
    assert (code, said, machine.apt_calls()) == (EXIT_OK, "", [])
    assert elapsed < 0.05, f"the check took {elapsed * 1000:.1f} ms"


def test_missing_without_root_prints_the_exact_sudo_line_and_fails(machine: Machine) -> None:
    absent = ("redis-server", "libnl-route-3-200")
    machine.provide(n for n in GROUPS["test"] if n.package not in absent)
    machine.apt_get()
    code, said = check(machine, "test", euid=1000)
    assert code == EXIT_MISSING
    assert "    sudo apt-get install -y redis-server libnl-route-3-200\n" in said.splitlines(True)
    assert "missing for `test`: redis-server" in said and "libnl-route-3.so.200" in said
    assert machine.apt_calls() == []  # nothing tried without root


def test_root_with_apt_installs_what_is_missing(machine: Machine) -> None:
    machine.provide(n for n in GROUPS["test"] if n.package != "redis-server")
    machine.apt_get()
    code, said = check(machine, "test", euid=0)
    assert code == EXIT_OK
    assert machine.apt_calls() == ["install -y -qq redis-server"]
    assert "installing redis-server" in said
    assert (machine.bin / "redis-server").is_file()


def test_stale_package_lists_are_refreshed_once(machine: Machine) -> None:
    machine.provide(n for n in GROUPS["test"] if n.package != "libnl-route-3-200")
    machine.apt_get(needs_update=True)
    code, _ = check(machine, "test", euid=0)
    assert code == EXIT_OK
    assert machine.apt_calls() == [
        "install -y -qq libnl-route-3-200",
        "update -qq",
        "install -y -qq libnl-route-3-200",
    ]


def test_a_failed_install_ends_with_the_command_to_run(machine: Machine) -> None:
    machine.apt_get(broken=True)
    code, said = check(machine, "build", euid=0)
    assert code == EXIT_MISSING
    assert "install failed" in said
    assert "    apt-get install -y cmake g++\n" in said.splitlines(True)  # root: no sudo


def test_optional_ones_are_only_named_unless_asked_for(machine: Machine) -> None:
    machine.provide(n for n in GROUPS["test"] if not n.optional)
    machine.apt_get()
    code, said = check(machine, "test", euid=0)
    assert code == EXIT_OK and machine.apt_calls() == []
    assert "optional, not installed: gcc" in said
    assert "    apt-get install -y gcc g++ nodejs\n" in said.splitlines(True)

    code, said = check(machine, "test", euid=0, optional=True)
    assert code == EXIT_OK
    assert machine.apt_calls() == ["install -y -qq gcc g++ nodejs"]
    assert check(machine, "test", euid=0) == (EXIT_OK, "")


def test_a_package_asked_for_by_two_groups_is_named_once(machine: Machine) -> None:
    code, said = check(machine, "test", "run", "build", euid=1000)
    assert code == EXIT_MISSING
    required = (
        "    sudo apt-get install -y redis-server libnl-route-3-200 python3 chromium cmake g++\n"
    )
    optional = "    sudo apt-get install -y gcc nodejs ninja-build\n"  # g++ is required here
    assert required in said.splitlines(True) and optional in said.splitlines(True)


def test_without_apt_get_the_debian_names_are_given(machine: Machine) -> None:
    code, said = check(machine, "run", euid=0)
    assert code == EXIT_MISSING
    assert "apt-get install -y libnl-route-3-200 python3" in said
    assert "without apt-get, use this system's own" in said


def run_cli(machine: Machine, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "prereqs", *args, "--root", str(machine.root)],
        cwd=ROOT,
        env={"PATH": str(machine.bin)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, time.perf_counter() - started


def test_the_command_line_on_a_complete_machine_costs_well_under_a_second(
    machine: Machine,
) -> None:
    machine.provide_all()
    machine.apt_get()
    done, elapsed = run_cli(machine, "test")
    assert (done.returncode, done.stdout, done.stderr) == (EXIT_OK, "", "")
    assert elapsed < 1.0, f"python -m prereqs took {elapsed:.2f} s"


def test_the_command_line_stops_at_once_with_the_command(machine: Machine) -> None:
    done, elapsed = run_cli(machine, "test")  # nothing there, no apt-get to run
    assert done.returncode == EXIT_MISSING
    sudo = "" if os.geteuid() == 0 else "sudo "
    line = f"    {sudo}apt-get install -y redis-server libnl-route-3-200 python3"
    assert line in done.stderr
    assert elapsed < 1.0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-group"], environ={}) == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_prereqs_imports_only_the_standard_library() -> None:
    # It runs before .venv exists, on whatever Python the Makefile found.
    for module in (ROOT / "prereqs").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ("prereqs", "__future__"), (
                    f"{module.name} imports {name}"
                )
