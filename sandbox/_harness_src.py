"""Test harness that runs INSIDE the jail, under the jail's Python (maybe older than ours).

Standard library only. It is shipped as a file into the jail, never imported by the
gateway. It reads a marshalled {nonce, code, tests} from stdin, then detaches stdin so
candidate code cannot reread the nonce, and prints one nonce-marked line per test:
`<nonce> <index> <ok 0|1> <function or -> <reason as utf-8 hex>`; index -1 reports a
candidate that failed to load, -2 the end of the run.
It imports only modules a plain `python3` has already loaded at start-up (json, typing
and traceback would cost 16 ms a run; even `math` would show in the candidate's
sys.modules), and runs the candidate as the `__main__` module, so the candidate sees
what it would see run as `python3 candidate.py`: tests/sandbox/test_faithful.py checks it.
"""

from __future__ import annotations

import _signal  # the C module: `signal` would import enum, costing milliseconds a run
import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Report = Callable[[int, bool, str, str], None]
SETUP, DONE = -1, -2


def _close(actual: Any, expected: Any) -> bool:
    """Equality with a tolerance for floats, recursively through containers."""
    if isinstance(actual, float) or isinstance(expected, float):
        try:
            return _isclose(float(actual), float(expected))
        except (TypeError, ValueError, OverflowError):
            return False
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        same_shape = type(actual) is type(expected) and len(actual) == len(expected)
        return same_shape and all(_close(a, e) for a, e in zip(actual, expected, strict=False))
    if isinstance(actual, dict) and isinstance(expected, dict):
        keys_match = actual.keys() == expected.keys()
        return keys_match and all(_close(actual[k], expected[k]) for k in actual)
    return bool(actual == expected)


def _isclose(a: float, b: float, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """math.isclose without importing math (see the module docstring)."""
    if a == b:
        return True
    if a != a or b != b or a in (INF, -INF) or b in (INF, -INF):
        return False
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol)


INF = float("inf")


def _test_line(exc: BaseException, source: str) -> str:
    """The line of the test's own code where it failed (the traceback module is slow)."""
    lineno = 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith("test_"):
            lineno = tb.tb_lineno
        tb = tb.tb_next
    lines = source.splitlines()
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def _reason(exc: BaseException, source: str = "") -> str:
    try:
        if isinstance(exc, AssertionError):
            return ("assertion failed: " + (str(exc) or _test_line(exc, source)))[:300]
        return (type(exc).__name__ + ": " + str(exc))[:300]
    except BaseException:  # a hostile __str__ must not take the harness down
        return type(exc).__name__


class _Raises:
    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __enter__(self) -> _Raises:
        return self

    def __exit__(self, kind: Any, value: Any, tb: Any) -> bool:
        if kind is None:
            raise AssertionError("DID NOT RAISE " + repr(self.expected))
        return issubclass(kind, self.expected)


class _Approx:
    def __init__(self, expected: Any) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        return _close(other, self.expected)

    __hash__ = None  # type: ignore[assignment]


def _pytest_shim() -> None:
    """Enough of pytest (raises, approx) for pytest-style tests; the jail has no pytest.
    Installed only after the candidate has loaded, so a candidate cannot import it."""
    if "pytest" in sys.modules:
        return
    module: Any = type(sys)("pytest")
    module.raises = _Raises
    module.approx = _Approx
    sys.modules["pytest"] = module


def _main_module(path: str) -> Any:
    """A fresh `__main__` module for the candidate, as `python3 candidate.py` would give it:
    its own globals (nothing of the harness's), `__name__ == "__main__"`, registered in
    sys.modules (pickle, dataclasses and doctest look it up there) and as sys.argv[0]."""
    module: Any = type(sys)("__main__")
    module.__file__ = path
    module.__builtins__ = sys.modules["builtins"]
    module.__spec__ = None
    module.__loader__ = None
    sys.modules["__main__"] = module
    sys.argv[:] = [path]
    return module


BASE_RECURSION_LIMIT = sys.getrecursionlimit()


def _run_as_module(code: Any, namespace: dict[str, Any]) -> None:
    """exec, with the recursion limit raised by the harness frames under the code, so
    the code may recurse exactly as deep as at the top level of a plain run."""
    depth = 0
    frame: Any = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    # +1: the exec call itself counts as a level, which a plain run does not have.
    sys.setrecursionlimit(BASE_RECURSION_LIMIT + depth + 1)
    exec(code, namespace)


class TestTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise TestTimeout("the test exceeded its time limit")


def _timed(seconds: float, action: Callable[[], Any]) -> None:
    """Run `action` under an interval timer, so one hanging test fails on its own."""
    if seconds <= 0:
        action()
        return
    _signal.setitimer(_signal.ITIMER_REAL, seconds)
    try:
        action()
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)


def _main() -> None:
    spec = marshal.loads(sys.stdin.buffer.read())
    per_test = float(spec.get("per_test_s") or 0)
    if per_test > 0:
        _signal.signal(_signal.SIGALRM, _on_alarm)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    marker = "\n" + spec.pop("nonce") + " "
    emit = os.write

    def report(index: int, ok: bool, function: str = "-", reason: str = "") -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        text = reason.encode("utf-8", "replace").hex()
        emit(1, (marker + f"{index} {int(ok)} {function} {text}\n").encode())

    here = os.path.dirname(globals().get("__file__") or os.path.abspath("candidate.py"))
    module = _main_module(os.path.join(here, "candidate.py"))
    try:
        # dont_inherit: the harness's own `from __future__` flags must not reach the
        # candidate (postponed annotations would hide a missing `from typing import ...`).
        code = compile(spec["code"], module.__file__, "exec", dont_inherit=True)
        _run_as_module(code, module.__dict__)
    except BaseException as exc:  # the candidate's failure is the result
        report(SETUP, False, "-", _reason(exc))
        return
    if any(test["kind"] == "pytest" for test in spec["tests"]):
        _pytest_shim()
    for index, test in enumerate(spec["tests"]):
        # Each test sees the candidate's globals plus the test helpers, in a namespace of
        # its own: nothing a test defines leaks into the candidate's module.
        namespace = {**module.__dict__, "_atlas_close": _close}
        _run_test(index, test, namespace, report, per_test)
    report(DONE, True)


def _run_test(
    index: int,
    test: dict[str, Any],
    namespace: dict[str, Any],
    report: Report,
    per_test: float = 0.0,
) -> None:
    known = set(namespace)
    try:
        code = compile(test["code"], "test_" + str(index) + ".py", "exec", dont_inherit=True)
        _timed(per_test, lambda: _run_as_module(code, namespace))
    except BaseException as exc:  # a failing test is a result, whatever it raised
        report(index, False, "-", _reason(exc, test["code"]))
        return
    if test["kind"] != "pytest":
        report(index, True, "-", "")
        return
    functions = [
        (k, v)
        for k, v in list(namespace.items())
        if k.startswith("test") and k not in known and callable(v)
    ]
    if not functions:
        report(index, False, "-", "no test functions defined")
    for name, function in functions:
        try:
            _timed(per_test, function)
            report(index, True, name, "")
        except BaseException as exc:  # a failing test is a result, whatever it raised
            report(index, False, name, _reason(exc, test["code"]))


if __name__ == "__main__":
    _main()
