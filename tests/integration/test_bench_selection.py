"""`atlas bench selection` end to end: in-process gateway on a replay model, real nsjail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.selection import main

pytestmark = [pytest.mark.slow, pytest.mark.nsjail, pytest.mark.timeout(180)]

ADD_RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
ADD_WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
NEG_RIGHT = "Here you go:\n```python\ndef neg(x):\n    return -x\n```\nDone."
NEG_WRONG = "```python\ndef neg(x):\n    return x\n```"
RECORDS = [
    {
        "id": "add",
        "messages": [{"role": "user", "content": "Write add(a, b)."}],
        "samples": [ADD_WRONG, ADD_RIGHT, ADD_WRONG, ADD_WRONG],
        "test_samples": ["```python\nassert add(1, 2) == 3\n```"],
        "hidden_tests": "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n",
    },
    {
        "id": "neg",
        "messages": [{"role": "user", "content": "Write neg(x)."}],
        "samples": [NEG_RIGHT, NEG_WRONG, NEG_RIGHT, NEG_RIGHT],
        "test_samples": ["```python\nassert neg(2) == -2\n```"],
        "hidden_tests": "assert neg(4) == -4\n",
    },
]


def test_selection_bench_end_to_end(tmp_path: Path) -> None:
    dataset = tmp_path / "two.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "out"
    code = main(
        [
            "--dataset",
            str(dataset),
            "--k",
            "1,2",
            "--repeats",
            "2",
            "--out",
            str(out),
            "--concurrency",
            "2",
        ]
    )
    assert code == 0
    result = json.loads((out / "two-2p.json").read_text())
    assert (tmp_path / "two.jsonl.passmatrix.jsonl").exists()
    base = result["baseline"]
    assert (base["problems"], base["samples_per_problem"], base["mixed_problems"]) == (2, 4, 2)
    assert base["oracle_pass_at_k"]["1"] == pytest.approx((0.25 + 0.75) / 2)
    assert base["oracle_pass_at_k"]["2"] == pytest.approx((0.5 + 1.0) / 2)
    one, two = result["rows"]
    # k = 1 is a pass-through: seed r answers samples[r] (add: wrong, right; neg: right, wrong).
    assert (one["k"], one["status"], one["requests"], one["errors"]) == (1, "pass-through", 4, 0)
    assert [(o["problem"], o["seed"], o["passed"]) for o in one["outcomes"]] == [
        ("add", 0, False),
        ("neg", 0, True),
        ("add", 1, True),
        ("neg", 1, False),
    ]
    assert one["atlas_pass_at_1"] == one["first_offered"] == 0.5
    assert one["tokens"] > 0
    assert (two["k"], two["requests"], two["errors"]) == (2, 4, 0)
    # Seeds 0-1 and 2-3: each request is offered one right sample except add at 2-3.
    assert two["oracle_offered"] == pytest.approx(0.75)
    if two["status"] == "active":
        assert two["candidates"] == 8
        assert two["atlas_pass_at_1"] <= two["oracle_offered"]
    else:
        assert two["status"].startswith("pending")
    assert "| 2 |" in (out / "two-2p.md").read_text()
