"""`atlas bench hints`: the requests leave k to the router, and the table it prints."""

from __future__ import annotations

import msgspec
import pytest

from bench.cli import build_parser
from bench.live_data import humaneval_problems, user_message
from bench.live_hints import Line, body, run_hints_bench, summary_table


def test_requests_leave_k_to_the_router_and_the_measured_ones_skip_the_cache() -> None:
    problem = humaneval_problems()[0]
    fill = msgspec.json.decode(body("m", problem, 768, hints=False, cache=True))
    assert fill["atlas"] == {"hints": False, "debug": True}
    assert "k" not in fill["atlas"] and fill["temperature"] == 0
    assert fill["messages"] == [{"role": "user", "content": user_message(problem)}]
    measured = msgspec.json.decode(body("m", problem, 768, hints=True, cache=False))
    assert measured["atlas"] == {"hints": True, "debug": True, "cache": False}


def line(phase: str, hints: bool, passed: bool, count: str | None, cands: str) -> Line:
    headers = {"x-atlas-candidates": cands, "x-atlas-route": "fast"}
    if count is not None:
        headers["x-atlas-hints"] = count
    return Line(
        phase=phase,
        hints=hints,
        task_id="t",
        status=200,
        wall_s=2.0,
        headers=headers,
        passed=passed,
    )


def test_the_table_has_one_row_per_setting() -> None:
    lines = [
        line("fill", False, True, None, "1"),
        line("measure", False, False, None, "5"),
        line("measure", True, True, "2", "1"),
        line("measure", True, False, "0", "3"),
    ]
    rows = summary_table(lines).splitlines()
    assert len(rows) == 5
    assert rows[2].startswith("| fill pass (hints off, cache on) | 1 | 100.0% (1) | 1.00 |")
    assert rows[4] == (
        "| hints on (cache off) | 2 | 50.0% (1) | 2.00 | 2.0 | 1 | 1.00 | 0 | 0 | 0 |"
    )


@pytest.mark.parametrize("flag", ["--start", "--fill-start"])
def test_held_out_mbpp_problems_are_refused(flag: str) -> None:
    args = build_parser().parse_args(["hints", flag, "199"])
    assert run_hints_bench(args) == 2
