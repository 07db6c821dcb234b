"""Run every Python test of one candidate in ONE jailed process, with per-test results.

The harness (`_harness_src.py`, run inside the jail) prints one line per test, prefixed
by a random nonce it reads from stdin (a file outside the box, detached once read), so
candidate output cannot forge a result by printing. Candidate code shares the harness's
process, so a deliberately hostile candidate could still find the nonce in memory: this
guards against accidents and naive cheating, not against code written to defeat it.
"""

from __future__ import annotations

import marshal
import secrets
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sandbox.verdict import RunResult, TestCase, TestResult

HARNESS_NAME = "harness.py"
MARSHAL_VERSION = 4  # readable by every Python 3 the jail may use
SETUP, DONE = -1, -2


@dataclass(frozen=True)
class Record:
    index: int
    ok: bool
    function: str | None
    reason: str


@cache
def harness_source() -> bytes:
    return resources.files("sandbox").joinpath("_harness_src.py").read_bytes()


def build_spec(code: str, tests: list[TestCase], per_test_s: float = 0.0) -> tuple[bytes, str]:
    """The harness's stdin, and the nonce its result lines carry."""
    nonce = "ATLAS-" + secrets.token_hex(16)
    spec = {
        "nonce": nonce,
        "code": code,
        "per_test_s": float(per_test_s),
        "tests": [{"kind": t.kind, "code": t.code, "entry_point": t.entry_point} for t in tests],
    }
    return marshal.dumps(spec, MARSHAL_VERSION), nonce


def _parse(fields: list[str]) -> Record | None:
    try:
        index, ok, function, reason = int(fields[0]), fields[1] == "1", fields[2], fields[3]
        text = bytes.fromhex(reason).decode("utf-8", "replace")
    except (IndexError, ValueError):
        return None  # a line cut by the output cap: that test counts as not reported
    return Record(index, ok, None if function == "-" else function, text)


def parse_records(stdout: str, nonce: str) -> tuple[list[Record], str]:
    """Result records and the candidate's own output, with our lines removed."""
    records: list[Record] = []
    kept: list[str] = []
    prefix = nonce + " "
    for line in stdout.split("\n"):
        if not line.startswith(prefix):
            kept.append(line)
            continue
        record = _parse(line[len(prefix) :].split(" ", 3))
        if record is not None:
            records.append(record)
        if kept and not kept[-1]:
            kept.pop()  # the newline our marker line started with
    return records, "\n".join(kept).strip("\n")


def interpret(
    run: RunResult, tests: list[TestCase], nonce: str
) -> tuple[list[TestResult], bool, str]:
    """(per-test results, whether the harness finished, the candidate's own stdout)."""
    records, own_stdout = parse_records(run.stdout, nonce)
    setup = next((r for r in records if r.index == SETUP), None)
    done = any(r.index == DONE for r in records)
    results: list[TestResult] = []
    for index, test in enumerate(tests):
        name = test.name or f"test_{index}"
        mine = [r for r in records if r.index == index]
        if setup is not None:
            reason = f"candidate raised {setup.reason}"
            results.append(TestResult(name=name, passed=False, reason=reason))
        elif not mine:
            results.append(TestResult(name=name, passed=False, reason=not_run_reason(run)))
        for record in mine:
            label = f"{name}::{record.function}" if record.function else name
            results.append(TestResult(name=label, passed=record.ok, reason=record.reason))
    return results, done, own_stdout


def not_run_reason(run: RunResult) -> str:
    if run.killed_by is not None:
        return f"not run: killed by {run.killed_by.replace('_', ' ')}"
    if run.signal is not None:
        return f"not run: process died from signal {run.signal}"
    return f"not run: process exited with status {run.exit_code}"
