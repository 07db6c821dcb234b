"""ATLAS sandbox: run model-written code in nsjail and decide which candidates are right.

Public API::

    sandbox = await Sandbox.create(SandboxConfig(...))   # runs the self-check
    sandbox.availability          # Availability(available, backend, reason, languages)
    verdict = await sandbox.run(Program(language="python", code=src, stdin=""), limits=None)
    verdict = await sandbox.check(code, tests, "python", limits=None)
    extract_code_blocks(markdown) -> list[CodeBlock]        # fenced blocks + language
    extract_prompt_tests(prompt, entry_point=None) -> list[TestCase]

Text analysis (code blocks, prompt examples) is linear in its input and capped: an
answer over MAX_ANSWER_CHARS yields no blocks, a prompt over MAX_PROMPT_CHARS no tests.
    parse_request_tests(raw) -> list[TestCase]              # the "atlas": {"tests": [...]} field

Configuration: `SandboxConfig` and `Limits` are config's `SandboxSettings` and
`SandboxLimits` (`[sandbox]`, `[sandbox.limits]`), defined once in config/sandbox.py.

Languages: python (the jail runs Debian's /usr/bin/python3, or `SandboxConfig.python_path`;
it must be readable by uid 65534, so a pyenv under /root is refused), javascript (node),
c and cpp (gcc/g++ on the compiler's defaults, compiled in one jail, run in another; a
compile failure is a Verdict with stage="compile"), bash. A language whose toolchain is
missing is listed as unavailable in `Availability.languages` and raises
UnsupportedLanguageError.
Python assert/pytest tests of one candidate run in ONE jailed process (a harness that
reports each test on a nonce-marked line); stdin/stdout tests run one process per case.

Verdict: passed, tests (name, passed, reason), exit_code, signal, killed_by
("wall_time" | "cpu_time" | "memory" | "output" | "signal"), duration_s, stdout/stderr
(capped at Limits.output_bytes, then the process group is killed), stage, error.
A wall-time kill comes from our timer; memory from the run's cgroup reaching its limit
(rlimit-only hosts report a MemoryError/failed allocation instead); cpu_time from
wait4's CPU seconds at a SIGKILL/SIGXCPU; exit status 137 is never mistaken for SIGKILL.
Concurrency: at most `max_concurrency` jails at once (0 = CPU count); waiting never
blocks the event loop.

Backends (`SandboxConfig.backend`):
  - "nsjail" (default): each run in a fresh nsjail (mode ONCE) as uid/gid 65534, new
    user/pid/mount/net/ipc/uts namespaces with no network at all, only the language's
    files bound read-only, a size-capped noexec tmpfs /tmp, no /proc, an empty
    environment, rlimits (address space, CPU, file size, open files, processes), a
    seccomp deny list, cgroup memory/pid limits when the host has cgroup v1 and we are
    root, and our own wall-clock timer and output cap. If the jail cannot start (for
    example in an unprivileged container) the sandbox reports itself unavailable and
    run/check raise SandboxUnavailableError: verification is skipped, never run unjailed.
  - "disabled": never runs code; always unavailable.
  - "unsafe-subprocess": UNSAFE. Runs candidate code as a plain child process of the
    gateway with only rlimits (via prlimit) and a timer. Model-written code can then read
    and change anything the gateway can. Use only for trusted code on a throwaway machine.

Tests supplied with a request, in the extension field `"atlas": {"tests": [...]}`; each
item is one of:
  - "assert add(1, 2) == 3"                  Python code run in the candidate's namespace
                                             (passes if it raises nothing; code defining
                                             test_* functions runs pytest-style, one result
                                             per function; `pytest.raises`/`approx` work);
  - {"input": "1 2\\n", "output": "3\\n"}     a stdin/stdout case, any language; compared
                                             ignoring trailing whitespace, floats within 1e-6;
  - {"code": "...", "name": "...", "entry_point": "add"}   a named code test; if the
                                             candidate lacks `entry_point` but defines exactly
                                             one function, that function is bound to it.
At most 100 items of 64 KiB each; malformed items raise InvalidTestsError naming the item.
"""

from sandbox.codeblocks import MAX_ANSWER_CHARS, CodeBlock, detect_language, extract_code_blocks
from sandbox.compare import outputs_match
from sandbox.config import (
    DEFAULT_COMPILE_LIMITS,
    DEFAULT_LIMITS,
    LANGUAGES,
    Backend,
    Language,
    Limits,
    SandboxConfig,
)
from sandbox.errors import (
    InvalidTestsError,
    SandboxError,
    SandboxUnavailableError,
    UnsupportedLanguageError,
)
from sandbox.prompt_blocks import extract_prompt_tests
from sandbox.prompt_tests import MAX_PROMPT_CHARS
from sandbox.request_tests import parse_request_tests
from sandbox.service import Availability, Sandbox
from sandbox.verdict import KilledBy, Program, RunResult, TestCase, TestResult, Verdict

__all__ = [
    "DEFAULT_COMPILE_LIMITS",
    "DEFAULT_LIMITS",
    "LANGUAGES",
    "MAX_ANSWER_CHARS",
    "MAX_PROMPT_CHARS",
    "Availability",
    "Backend",
    "CodeBlock",
    "InvalidTestsError",
    "KilledBy",
    "Language",
    "Limits",
    "Program",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxUnavailableError",
    "TestCase",
    "TestResult",
    "UnsupportedLanguageError",
    "Verdict",
    "detect_language",
    "extract_code_blocks",
    "extract_prompt_tests",
    "outputs_match",
    "parse_request_tests",
]
