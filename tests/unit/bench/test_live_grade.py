"""Live bench grading, the parts before the jail: the code of an answer, the program."""

from __future__ import annotations

from bench.live_data import Problem
from bench.live_grade import build_program, defines, extract_code, prompt_imports

PROMPT = (
    'from typing import List\nimport math\n\n\ndef add(xs: List[int]) -> int:\n    """Sum."""\n'
)
RIGHT = "def add(xs):\n    return sum(xs)\n"


def test_a_python_block_defining_the_entry_point_wins() -> None:
    answer = (
        "First a helper:\n```python\ndef helper():\n    return 1\n```\n"
        "The function, longer than the rest:\n```python\n" + RIGHT + "```\n"
        "Usage:\n```python\nprint(add([1, 2]))\n# a long comment: the longest block of all\n```"
    )
    assert extract_code(answer, "add") == RIGHT


def test_without_the_entry_point_the_longest_block_is_taken() -> None:
    answer = "```python\nx = 1\n```\n```\ny = 2\nz = [y, y, y]\n```"
    assert extract_code(answer, "add") == "y = 2\nz = [y, y, y]\n"


def test_an_unfenced_answer_counts_only_if_it_parses() -> None:
    assert extract_code(RIGHT, "add") == RIGHT
    assert extract_code("Sorry, I cannot help with that.", "add") is None
    assert extract_code("", "add") is None


def test_a_body_only_answer_is_completed_with_the_prompt() -> None:
    body = "    return sum(xs)\n"
    code = extract_code(f"```python\n{body}```", "add", PROMPT)
    assert code == PROMPT.rstrip("\n") + "\n" + body
    assert code is not None and defines(code, "add")
    # An unfenced body too (it does not parse alone).
    assert extract_code(body, "add", PROMPT) == PROMPT.rstrip("\n") + "\n" + body


def test_an_unclosed_fence_still_gives_its_code() -> None:
    assert extract_code("```python\n" + RIGHT, "add") == RIGHT


def test_defines_looks_at_top_level_functions_only() -> None:
    assert defines(RIGHT, "add")
    assert not defines("class A:\n    def add(self):\n        pass\n", "add")
    assert not defines("def add(:\n", "add")
    assert defines("async def add():\n    pass\n", "add")


def test_the_program_is_imports_code_and_hidden_tests() -> None:
    problem = Problem(
        dataset="humaneval",
        index=0,
        task_id="T/0",
        prompt=PROMPT,
        entry_point="add",
        test="def check(candidate):\n    assert candidate([1, 2]) == 3\n\n\ncheck(add)\n",
    )
    assert prompt_imports(PROMPT) == "from typing import List\nimport math"
    program = build_program(problem, RIGHT)
    assert program == (
        "from typing import List\nimport math\n"
        + RIGHT.rstrip()
        + "\n\n\ndef check(candidate):\n    assert candidate([1, 2]) == 3\n\n\ncheck(add)\n"
    )
    compile(program, "<program>", "exec")
