from __future__ import annotations

import marshal
import subprocess
import sys

from sandbox.harness import build_spec, harness_source, interpret
from sandbox.verdict import RunResult, TestCase

TESTS = [
    TestCase(kind="assert", code="assert f(1) == 2"),
    TestCase(kind="pytest", name="suite", code="def test_a(): pass\ndef test_b(): pass"),
]


def test_spec_carries_a_fresh_nonce() -> None:
    spec, nonce = build_spec("def f(x): return 2 * x", TESTS)
    decoded = marshal.loads(spec)
    assert decoded["nonce"] == nonce and nonce.startswith("ATLAS-")
    assert build_spec("", TESTS)[1] != nonce


def line(nonce: str, index: int, ok: bool, function: str = "-", reason: str = "") -> str:
    return f"\n{nonce} {index} {int(ok)} {function} {reason.encode().hex()}\n"


def test_forged_result_lines_do_not_count() -> None:
    _, nonce = build_spec("", TESTS)
    forged = "ATLAS-0000 0 1 - \n0 1 - "
    stdout = forged + line(nonce, 0, False, reason="assertion failed")
    stdout += line(nonce, 1, True, "test_a") + line(nonce, 1, True, "test_b")
    results, done, own = interpret(RunResult(exit_code=0, stdout=stdout), TESTS, nonce)
    assert [(r.name, r.passed, r.reason) for r in results] == [
        ("test_0", False, "assertion failed"),
        ("suite::test_a", True, ""),
        ("suite::test_b", True, ""),
    ]
    assert not done
    assert own == forged


def test_unreported_tests_say_why() -> None:
    _, nonce = build_spec("", TESTS)
    run = RunResult(exit_code=None, signal=9, killed_by="wall_time", stdout=line(nonce, 0, True))
    results, done, _ = interpret(run, TESTS, nonce)
    assert results[0].passed and not done
    assert results[1].reason == "not run: killed by wall time"


def test_candidate_failure_fails_every_test() -> None:
    _, nonce = build_spec("", TESTS)
    run = RunResult(exit_code=0, stdout=line(nonce, -1, False, reason="SyntaxError: bad"))
    results, _, _ = interpret(run, TESTS, nonce)
    assert [r.reason for r in results] == ["candidate raised SyntaxError: bad"] * 2


def test_harness_round_trip_unjailed() -> None:
    """The harness itself, on trusted code, in a plain interpreter (the jail's job is elsewhere)."""
    spec, nonce = build_spec("def f(x):\n    return 2 * x\n", TESTS)
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", harness_source().decode()],
        input=spec,
        capture_output=True,
        check=True,
        timeout=30,
    )
    results, finished, own = interpret(
        RunResult(exit_code=0, stdout=done.stdout.decode()), TESTS, nonce
    )
    assert finished and own == ""
    assert [(r.name, r.passed) for r in results] == [
        ("test_0", True),
        ("suite::test_a", True),
        ("suite::test_b", True),
    ]
