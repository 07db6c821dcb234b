"""The jail judges what the user runs: for every snippet of a corpus, the harness's
verdict (all tests pass or not) equals a plain `python3 candidate.py` run of the same
code with the same asserts appended, under the same interpreter the jail uses."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from sandbox import Sandbox, parse_request_tests

from .conftest import require

pytestmark = pytest.mark.nsjail

FINISHED = "__atlas_reference_finished__"
ADD = "def add(a, b):\n    return a + b\n"

# (name, candidate code, asserts); the expected outcome is whatever plain Python says.
CORPUS: list[tuple[str, str, list[str]]] = [
    ("correct", ADD, ["assert add(1, 2) == 3"]),
    ("wrong", ADD, ["assert add(1, 2) == 4"]),
    (
        "annotation without import",
        "def total(xs: List[int]) -> int:\n    return sum(xs)\n",
        ["assert total([1, 2]) == 3"],
    ),
    (
        "annotation with import",
        "from typing import List\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n",
        ["assert total([1, 2]) == 3"],
    ),
    (
        "future annotations in the candidate",
        "from __future__ import annotations\n\ndef total(xs: List[int]) -> int:\n"
        "    return sum(xs)\n",
        ["assert total([1, 2]) == 3"],
    ),
    (
        "string annotation",
        "def total(xs: 'List[int]') -> int:\n    return sum(xs)\n",
        ["assert total([3]) == 3"],
    ),
    (
        "type hints resolved at run time",
        "import typing\n\ndef total(xs: 'List[int]') -> int:\n    return sum(xs)\n"
        "HINTS = typing.get_type_hints(total)\n",
        ["assert total([3]) == 3"],
    ),
    ("top-level print", "print('hello')\n" + ADD, ["assert add(2, 2) == 4"]),
    (
        "print to stderr",
        "import sys\nprint('warn', file=sys.stderr)\n" + ADD,
        ["assert add(0, 0) == 0"],
    ),
    (
        "main block that prints",
        ADD + "if __name__ == '__main__':\n    print(add(1, 1))\n",
        ["assert add(1, 1) == 2"],
    ),
    (
        "main block that fails",
        ADD + "if __name__ == '__main__':\n    assert add(1, 1) == 3\n",
        ["assert add(1, 1) == 2"],
    ),
    (
        "code that needs another module name",
        ADD + "if __name__ != '__main__':\n    raise ImportError('not a script')\n",
        ["assert add(1, 1) == 2"],
    ),
    (
        "__name__ seen by a function",
        "def who():\n    return __name__\n",
        ["assert who() == '__main__'"],
    ),
    ("input at the top level", "N = int(input())\n" + ADD, ["assert add(1, 2) == 3"]),
    (
        "input inside an uncalled function",
        "def ask():\n    return input()\n" + ADD,
        ["assert add(1, 2) == 3"],
    ),
    (
        "sys.exit at the top level",
        "import sys\n" + ADD + "sys.exit(0)\n",
        ["assert add(1, 2) == 3"],
    ),
    (
        "recursion just under the limit",
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n",
        ["assert depth(998) == 998"],
    ),
    (
        "recursion over the limit",
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n",
        ["assert depth(999) == 999"],
    ),
    (
        "generator",
        "def evens(n):\n    yield from range(0, n, 2)\n",
        ["assert list(evens(5)) == [0, 2, 4]"],
    ),
    (
        "class with state",
        "class Counter:\n    def __init__(self):\n        self.n = 0\n"
        "    def inc(self):\n        self.n += 1\n        return self.n\n",
        ["c = Counter()\nc.inc()\nassert c.inc() == 2"],
    ),
    (
        "dataclass with future annotations and ClassVar",
        "from __future__ import annotations\nfrom dataclasses import dataclass\n"
        "from typing import ClassVar\n\n@dataclass\nclass Point:\n    x: int\n"
        "    origin: ClassVar[int] = 0\n",
        ["assert Point(3).x == 3"],
    ),
    (
        "pickle a function of the script",
        "import pickle\n\ndef one():\n    return 1\n",
        ["assert pickle.loads(pickle.dumps(one))() == 1"],
    ),
    ("math without import", "def root(x):\n    return math.sqrt(x)\n", ["assert root(4) == 2"]),
    (
        "math imported",
        "import math\n\ndef root(x):\n    return math.sqrt(x)\n",
        ["assert root(4) == 2"],
    ),
    (
        "harness helper name",
        "def close(a, b):\n    return _atlas_close(a, b)\n",
        ["assert close(1.0, 1.0)"],
    ),
    ("pytest import", "import pytest\n" + ADD, ["assert add(1, 2) == 3"]),
    (
        "modules loaded at start-up",
        "import sys\nLOADED = 'math' in sys.modules or 'json' in sys.modules\n",
        ["assert not LOADED"],
    ),
    ("site builtins", "STOP = quit\n" + ADD, ["assert add(1, 2) == 3"]),
    (
        "builtins is a module",
        "import types\nB = __builtins__\n",
        ["assert isinstance(B, types.ModuleType)"],
    ),
    (
        "script file and argv",
        "import os, sys\nNAME = os.path.basename(sys.argv[0])\nHERE = __file__\n",
        ["assert NAME.endswith('.py') and HERE.endswith('.py')"],
    ),
    (
        "module globals",
        "def f():\n    return 1\n\ndef names():\n"
        "    return sorted(n for n in globals() if not n.startswith('__'))\n",
        ["assert names() == ['f', 'names']"],
    ),
    (
        "global state across asserts",
        "count = 0\n\ndef inc():\n    global count\n    count += 1\n    return count\n",
        ["assert inc() == 1", "assert inc() == 2"],
    ),
    (
        "closure with nonlocal",
        "def make():\n    n = 0\n    def step():\n        nonlocal n\n        n += 1\n"
        "        return n\n    return step\n",
        ["s = make()\ns()\nassert s() == 2"],
    ),
    (
        "asyncio",
        "import asyncio\n\nasync def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x\n",
        ["assert asyncio.run(twice(2)) == 4"],
    ),
    (
        "exception class",
        "class Bad(Exception):\n    pass\n\ndef check(x):\n    if x < 0:\n        raise Bad(x)\n"
        "    return x\n",
        ["try:\n    check(-1)\nexcept Bad:\n    pass\nelse:\n    raise AssertionError"],
    ),
    ("syntax of a newer Python", 'def quote():\n    return f"{"x"}"\n', ["assert quote() == 'x'"]),
    (
        "match statement",
        "def kind(x):\n    match x:\n        case 0:\n            return 'zero'\n"
        "        case _:\n            return 'other'\n",
        ["assert kind(0) == 'zero'"],
    ),
    (
        "doctest.testmod in the main block",
        "def double(x):\n    '''\n    >>> double(2)\n    4\n    '''\n    return 2 * x\n\n"
        "if __name__ == '__main__':\n    import doctest\n    doctest.testmod()\n",
        ["assert double(3) == 6"],
    ),
    ("syntax error", "def broken(:\n    pass\n", ["assert True"]),
    (
        "float equality",
        "def third():\n    return 1 / 3\n",
        ["assert third() == 0.3333333333333333"],
    ),
]


async def _plain_run(python: str, code: str, asserts: list[str]) -> bool:
    """The reference: the code, then the asserts, then a marker, run as a script."""
    source = code + "\n\n" + "\n".join(asserts) + f"\nprint({FINISHED!r})\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidate.py"
        path.write_text(source, encoding="utf-8")  # a few hundred bytes: fine on the loop
        process = await asyncio.create_subprocess_exec(
            python,
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=folder,
            env={"PATH": "/usr/bin:/bin"},
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    return process.returncode == 0 and stdout.decode().rstrip().endswith(FINISHED)


async def _jailed(sandbox: Sandbox, code: str, asserts: list[str]) -> bool:
    verdict = await sandbox.check(code, parse_request_tests(asserts), "python")
    return verdict.passed


def test_corpus_is_large_and_decides_both_ways() -> None:
    assert len(CORPUS) >= 30
    assert len({name for name, _, _ in CORPUS}) == len(CORPUS)


async def test_jail_verdict_equals_a_plain_python_run(sandbox: Sandbox) -> None:
    require(sandbox, "python")
    toolchain = sandbox.toolchains["python"]
    assert not isinstance(toolchain, str)
    python = toolchain.run_argv[0]
    references = await asyncio.gather(*(_plain_run(python, c, a) for _, c, a in CORPUS))
    jailed = await asyncio.gather(*(_jailed(sandbox, c, a) for _, c, a in CORPUS))
    differ = [
        f"{name}: python3 says {'pass' if ref else 'fail'}, jail says {'pass' if got else 'fail'}"
        for (name, _, _), ref, got in zip(CORPUS, references, jailed, strict=True)
        if ref != got
    ]
    assert not differ, "\n".join(differ)
    # The corpus decides both ways, so the equality above is not trivially true.
    assert 8 <= sum(references) <= len(CORPUS) - 8
