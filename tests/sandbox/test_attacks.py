"""The attack corpus: hostile programs, each with the verdict it must get, and no escapes.

Every attack prints "ESCAPED" if it gets through; most also print "blocked ..." when
stopped, which proves the attack really ran. After each one we check that the canary
secret (a host file and an environment variable of this process) never appears, that
no process of the jail user survives, that nothing was written on the host, and that
the sandbox still runs code.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox import Language, Program, Sandbox, SandboxConfig, Verdict

from .conftest import CGROUP_TAG, has_cgroups, require

ATTACKS = Path(__file__).parent / "attacks"
CANARY_PATH = Path(f"/tmp/atlas-sandbox-canary-{os.getpid()}")
PWNED_PATHS = [
    Path(p) / "atlas_pwned" for p in ("/", "/tmp", "/usr", "/usr/bin", "/root", "/var/tmp", "/dev")
]
EXTENSIONS: dict[str, Language] = {
    ".py": "python",
    ".c": "c",
    ".cpp": "cpp",
    ".js": "javascript",
    ".sh": "bash",
}
NOBODY = 65534


@dataclass(frozen=True)
class Expect:
    killed_by: frozenset[str | None]
    proof: str | None = None  # printed only if the attack really ran and was stopped
    stdin: str = ""
    signal: int | None = None
    stage: str = "run"
    memory: bool = False  # a memory kill needs cgroups; without them any failure will do
    tags: frozenset[str] = field(default_factory=frozenset)


def ok(proof: str | None = None, stdin: str = "") -> Expect:
    return Expect(frozenset({None}), proof, stdin)


def killed(*by: str | None, signal: int | None = None, memory: bool = False) -> Expect:
    return Expect(frozenset(by), signal=signal, memory=memory)


PORT = "{port}"
EXPECTED: dict[str, Expect] = {
    "fork_bomb.py": killed("cpu_time", "wall_time", "memory"),
    "thread_bomb.py": killed("cpu_time", "wall_time", "memory"),
    "memory_bomb.py": killed("memory", memory=True),
    "sparse_file.py": ok("blocked /tmp/sparse"),
    "tmpfs_fill.py": ok("blocked after"),
    "infinite_loop.py": killed("cpu_time"),
    "sleep_past_wall.py": killed("wall_time"),
    "stdout_flood.py": killed("output"),
    "stderr_flood.py": killed("output"),
    "read_shadow.py": ok("blocked /etc/shadow"),
    "read_passwd.py": ok("blocked /etc/passwd"),
    "read_environment.py": ok("blocked /proc/self/environ"),
    "read_canary.py": ok("blocked /tmp/atlas-sandbox-canary"),
    "write_outside_tmp.py": ok("blocked /atlas_pwned"),
    "symlink_tricks.py": ok("blocked box symlink"),
    "network_loopback.py": ok("blocked 127.0.0.1", PORT),
    "network_outside.py": ok("blocked dns"),
    "spawn_subprocess.py": ok("blocked ['/bin/sh'"),
    "ptrace_attach.py": ok("blocked ptrace 0 0"),
    "namespace_escape.py": ok("blocked mount"),
    "proc_inspection.py": ok("blocked /proc"),
    "kill_pid1_and_parent.py": Expect(frozenset({None, "signal"})),
    "huge_stdin.py": Expect(frozenset({"output"}), stdin="x" * (8 << 20)),
    "ignore_sigterm.py": killed("wall_time"),
    "segfault.py": killed("signal", signal=11),
    "fork_bomb.c": killed("cpu_time", "wall_time"),
    "memory_bomb.c": killed("memory", memory=True),
    "read_shadow.c": ok("blocked /etc/shadow"),
    "include_shadow.c": Expect(frozenset({None}), stage="compile"),
    "segfault.c": killed("signal", signal=11),
    "socket_egress.c": ok("blocked socket"),
    "ptrace_parent.c": ok("blocked ptrace"),
    "thread_bomb.cpp": killed("signal", "memory", "cpu_time", "wall_time"),
    "infinite_loop.cpp": killed("cpu_time"),
    "infinite_loop.js": killed("cpu_time"),
    "read_environment.js": ok("blocked /etc/shadow"),
    "memory_bomb.js": killed("memory", memory=True),
    "child_process.js": ok("blocked cat /etc/shadow"),
    "network.js": ok("blocked 127.0.0.1", PORT),
    "fork_bomb.sh": killed("wall_time", "cpu_time"),
    "read_secrets.sh": ok("blocked /etc/shadow"),
    "network.sh": ok("blocked 127.0.0.1", PORT),
    "write_outside.sh": ok("blocked /atlas_pwned"),
}


def test_every_attack_file_has_an_expectation() -> None:
    files = {p.name for p in ATTACKS.iterdir() if p.suffix in EXTENSIONS}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.fixture(scope="module")
def canary() -> Iterator[str]:
    secret = "ATLAS-CANARY-" + secrets.token_hex(16)
    CANARY_PATH.write_text(secret)
    os.environ["ATLAS_SANDBOX_CANARY"] = secret
    yield secret
    os.environ.pop("ATLAS_SANDBOX_CANARY", None)
    CANARY_PATH.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A host loopback port the network attacks try to reach."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def ours(entry: Path) -> bool:
    """Whether a process could come from this session's jails: in one of our run cgroups,
    or in none at all (where an escaped process would be); other sessions' jails are not."""
    try:
        groups = (entry / "cgroup").read_text()
    except OSError:
        return False
    return CGROUP_TAG in groups or "/NSJAIL" not in groups


def jail_user_processes() -> set[int]:
    """Live (non-zombie) processes of the jail user on the host, from this session."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if (
            fields.get("Uid", "").split()[:1] == [str(NOBODY)]
            and "zombie" not in fields["State"]
            and ours(entry)
        ):
            found.add(int(entry.name))
    return found


async def wait_no_stray(before: set[int]) -> set[int]:
    """Processes of the jail user that appeared during the attack and are still alive."""
    stray = jail_user_processes() - before
    for _ in range(60):  # killed processes may take a moment to leave the process table
        if not stray:
            break
        await asyncio.sleep(0.05)
        stray = jail_user_processes() - before
    return stray


def describe(pids: set[int]) -> dict[int, str]:
    found = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()[:9]
            found[pid] = " | ".join(status) + " | cgroup " + Path(f"/proc/{pid}/cgroup").read_text()
        except OSError as exc:
            found[pid] = str(exc)
    return found


def host_changes(canary: str) -> list[str]:
    changes = [str(p) for p in PWNED_PATHS if p.exists()]
    if CANARY_PATH.read_text() != canary:
        changes.append(str(CANARY_PATH))
    return changes


def assert_verdict(name: str, expect: Expect, verdict: Verdict, has_cgroups: bool) -> None:
    context = f"{name}: {verdict!r}"
    assert verdict.stage == expect.stage, context
    allowed = set(expect.killed_by)
    if expect.memory and not has_cgroups:
        allowed |= {None, "signal", "cpu_time", "wall_time"}  # rlimits only: it fails some way
    assert verdict.killed_by in allowed, context
    if expect.signal is not None:
        assert verdict.signal == expect.signal, context
    if expect.proof is not None:
        assert expect.proof in verdict.stdout + verdict.stderr, context
    if None not in expect.killed_by or expect.stage == "compile":
        assert not verdict.passed, context


@pytest.mark.nsjail
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_attack(name: str, sandbox: Sandbox, canary: str, listener: socket.socket) -> None:
    expect = EXPECTED[name]
    path = ATTACKS / name
    stdin = str(listener.getsockname()[1]) if expect.stdin == PORT else expect.stdin
    require(sandbox, EXTENSIONS[path.suffix])
    before = jail_user_processes()
    verdict = await sandbox.run(
        Program(language=EXTENSIONS[path.suffix], code=path.read_text(), stdin=stdin)
    )
    assert_verdict(name, expect, verdict, has_cgroups(sandbox))
    output = verdict.stdout + verdict.stderr
    assert "ESCAPED" not in output, output[:2000]
    assert canary not in output
    assert "root:x:0:0" not in output and "root:*:" not in output and "root:!" not in output
    stray = await wait_no_stray(before)
    assert stray == set(), f"{name}: processes survived the jail: {describe(stray)}"
    assert host_changes(canary) == []
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody reached the host's loopback
    after = await sandbox.run(Program(language="python", code="print(6 * 7)"))
    assert after.passed and after.stdout.strip() == "42", after


async def test_the_corpus_detects_escapes_without_a_jail() -> None:
    """Read-only attacks under the unjailed backend escape, so the checks above can fail."""
    unsafe = await Sandbox.create(SandboxConfig(backend="unsafe-subprocess"))
    code = (ATTACKS / "read_passwd.py").read_text()
    verdict = await unsafe.run(Program(language="python", code=code))
    assert "ESCAPED: /etc/passwd" in verdict.stdout
