"""CodeT release to replay records: truncation, assert extraction, whole records."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bench.codet_convert import (
    PROMPT_TEMPLATE,
    convert,
    extract_asserts,
    main,
    parse_samples,
    truncate_completion,
)
from bench.passmatrix import answer_code
from engines.replay import ReplayDataset

# Two real problems from the CodeT release, a few samples each (HumanEval/38's line keeps
# its samples as a Python-literal string, as some release lines do).
DATA = Path(__file__).parent / "data" / "codet"
PROMPT = 'def inc(x):\n    """Add one."""\n'


def test_truncation_cuts_at_the_next_top_level_statement() -> None:
    completion = "    return x + 1\n\n\ndef other():\n    pass\n"
    assert truncate_completion(PROMPT, completion) == PROMPT + "    return x + 1\n"
    assert truncate_completion(PROMPT, "    return x + 1\nprint(inc(2))\n") == (
        PROMPT + "    return x + 1\n"
    )
    assert truncate_completion(PROMPT, "    return x + 1\n\n# tests\n") == (
        PROMPT + "    return x + 1\n"
    )


def test_truncation_keeps_a_complete_body_and_column_zero_string_lines() -> None:
    assert truncate_completion(PROMPT, "    return x + 1") == PROMPT + "    return x + 1\n"
    body = '    y = """\nnot a statement\n"""\n    return x + 1\nif True:\n    pass\n'
    kept = truncate_completion(PROMPT, body)
    assert kept == PROMPT + body.split("if True")[0]
    namespace: dict[str, object] = {}
    exec(kept, namespace)
    assert namespace["inc"](1) == 2  # type: ignore[operator]


def test_truncation_never_cuts_the_line_that_continues_the_prompt() -> None:
    assert truncate_completion("def f():\n    return ", "1\nx = 2\n") == "def f():\n    return 1\n"
    assert truncate_completion("x = ", "1\ny = 2\n") == "x = 1\n"


def test_asserts_join_the_expression_on_the_next_line() -> None:
    sample = "\nf([], 1) == False, 'empty'\nassert \n    f([1], 1) == True\nassert f(2) == 3\n"
    assert extract_asserts(sample) == [
        "assert f([], 1) == False, 'empty'",
        "assert f([1], 1) == True",
        "assert f(2) == 3",
    ]


def test_asserts_keep_the_first_five_valid_and_stop_at_other_code() -> None:
    sample = "f(0) == 0\n" + "".join(f"assert f({i}) == {i}\n" for i in range(1, 9))
    assert extract_asserts(sample) == [f"assert f({i}) == {i}" for i in range(5)]
    broken = "f(0) ==\nassert (f(1), 'always true')\nassert f(2) == 2\n\ndef g():\nassert f(3)\n"
    assert extract_asserts(broken) == ["assert f(2) == 2"]
    assert extract_asserts("f(1) == [\n1,\n2]\n") == ["assert f(1) == [\n1,\n2]"]
    assert extract_asserts("\nassert\nassert \n") == []
    assert extract_asserts("\nimport os\n") == []
    assert extract_asserts('"""docs"""\nassert 1 == 1\n') == ["assert 1 == 1"]
    assert extract_asserts("g(1) == 1\nassert f(1) == 1\n", entry_point="f") == ["assert f(1) == 1"]


def test_samples_may_be_a_python_literal_string() -> None:
    assert parse_samples("['a', \"b\\n\"]") == ["a", "b\n"]
    assert parse_samples(["x"]) == ["x"]
    with pytest.raises(ValueError, match="list of strings"):
        parse_samples("[1, 2]")


@pytest.mark.parametrize("variant", ["a", "b"])
def test_real_problems_become_valid_replay_records(variant: str, tmp_path: Path) -> None:
    out = tmp_path / "replay.jsonl"
    assert main(["--variant", variant, "--out", str(out), "--data", str(DATA)]) == 0
    first = out.read_bytes()
    assert main(["--variant", variant, "--out", str(out), "--data", str(DATA)]) == 0
    assert out.read_bytes() == first  # deterministic
    records = [json.loads(line) for line in first.splitlines()]
    assert [r["id"] for r in records] == ["HumanEval/0", "HumanEval/38"]
    assert len(ReplayDataset.load(out).records) == 2
    problems = {
        p["task_id"]: p
        for p in map(
            json.loads, (DATA / ("HumanEval_for_code_generation.jsonl")).read_text().splitlines()
        )
    }
    for record in records:
        problem = problems[record["id"]]
        (message,) = record["messages"]
        assert message["role"] == "user"
        assert message["content"].startswith(PROMPT_TEMPLATE.split("{")[0])
        if record["id"] == "HumanEval/0":  # HumanEval/38 has no examples in either prompt
            assert (">>> " in message["content"]) == (variant == "b")
        for sample in record["samples"]:
            code = answer_code(sample)
            assert sample.startswith("```python\n") and sample.endswith("\n```")
            assert code.startswith(problem["prompt"])
            ast.parse(code)
        for block in record["test_samples"]:
            asserts = ast.parse(answer_code(block)).body
            assert 1 <= len(asserts) <= 5
            assert all(isinstance(a, ast.Assert) for a in asserts)
            assert all(problem["entry_point"] in ast.unparse(a) for a in asserts)
        assert record["hidden_tests"].endswith(f"\ncheck({problem['entry_point']})\n")
        namespace: dict[str, object] = {}  # the reference solution passes the hidden tests
        exec(problem["prompt"] + problem["canonical_solution"] + record["hidden_tests"], namespace)
    counts = [(len(r["samples"]), len(r["test_samples"])) for r in records]
    assert counts == [(4, 1), (3, 1)]


def test_problem_without_samples_is_an_error(tmp_path: Path) -> None:
    for name in DATA.iterdir():
        lines = name.read_text().splitlines()
        keep = lines if "for_code_generation" in name.name else lines[:1]
        (tmp_path / name.name).write_text("\n".join(keep) + "\n")
    with pytest.raises(ValueError, match="HumanEval/0: no samples"):
        convert("a", tmp_path)
