"""Figures and tables for `atlas bench selection`: per-k summaries, JSON, markdown, docs."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.passk import mean_pass_at_k
from bench.report import write_section

REFERENCE = (
    "CodeT README (all 16,400 samples, untruncated)",
    0.221,
    {"2": 0.308, "5": 0.420, "10": 0.504, "100": 0.738},
)
DOC_KS = ("1", "2", "5", "10", "100")
SELECTION_INTRO = """\
## Selection (best-of-k on replay data)

`atlas bench selection --dataset codet-a|codet-b --k 1,5,10 --docs` (or
`python -m bench.selection ...`). Data: the CodeT release of 100 CodeGen-Mono-16B samples
(temperature 0.8) per HumanEval problem, converted by `bench/codet_convert.py` into
replay records. The user message is `Complete the following Python function:` followed by
the prompt in a ```` ```python ```` fence: in **codet-a** the CodeT prompt (docstring
without examples), in **codet-b** the original HumanEval prompt (with `>>>` examples).
Each sample is a fenced block with the whole function (prompt + completion, cut at the
next top-level statement), the same code in both variants; model-written tests are the
first 5 valid asserts naming the entry point in each CodeT test sample (2,096 of 16,400
samples yield any; 10 problems get none). Every answer is judged in nsjail against
HumanEval's hidden `check` (3 s CPU), which the gateway never sees. *raw pass@1* is the
mean over all samples; *oracle pass@k* the unbiased estimator 1 - C(n-c,k)/C(n,k);
*oracle (seeds sent)* whether any of the k samples the request's seeds reach passes
(seed = repeat x k; candidates get seed ... seed+k-1);
*candidates*, *verified*, *selection* and *tokens* come from the `x-atlas-*` headers.
Check of the judge: the same samples *without* truncation reproduce the CodeT README's
figures exactly (22.1% / 30.8% / 42.0% / 50.4% / 73.8%, 121 mixed problems); truncation
repairs 121 samples and breaks 1, hence the slightly higher rows below.
"""


@dataclass(frozen=True)
class Outcome:
    """One request through the gateway and the hidden-test verdict on its answer."""

    problem: str
    k: int
    repeat: int
    seed: int
    passed: bool
    latency_s: float
    tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _int_header(outcome: Outcome, name: str) -> int | None:
    value = outcome.headers.get(name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def best_of_k_status(k: int, outcomes: list[Outcome]) -> str:
    """ "active" once the gateway answers with x-atlas-k = k; else why the row is pending."""
    if k == 1:
        return "pass-through"
    seen = Counter(o.headers.get("x-atlas-k", "missing") for o in outcomes if o.error is None)
    if seen.get(str(k)):
        return "active"
    return "pending (x-atlas-k " + (", ".join(sorted(seen)) or "missing") + ")"


def summarise(
    k: int, outcomes: list[Outcome], matrix: dict[str, list[bool]], wall_s: float
) -> dict[str, Any]:
    """One k's row: gateway figures next to what the pass matrix says is possible."""
    answered = [o for o in outcomes if o.error is None]
    n = min(len(row) for row in matrix.values())

    def offered(o: Outcome) -> list[bool]:
        row = matrix[o.problem]
        return [row[(o.seed + i) % len(row)] for i in range(k)]

    candidates = sum(_int_header(o, "x-atlas-candidates") or 1 for o in answered)
    return {
        "k": k,
        "status": best_of_k_status(k, outcomes),
        "requests": len(outcomes),
        "errors": len(outcomes) - len(answered),
        "raw_pass_at_1": mean_pass_at_k(matrix, 1),
        "atlas_pass_at_1": _mean(o.passed for o in outcomes),
        "oracle_pass_at_k": mean_pass_at_k(matrix, k) if k <= n else None,
        # The k samples the seeds actually reach: any right (oracle), the first right.
        "oracle_offered": _mean(any(offered(o)) for o in outcomes),
        "first_offered": _mean(offered(o)[0] for o in outcomes),
        "candidates": candidates,
        "verified": sum(_int_header(o, "x-atlas-verified") or 0 for o in answered),
        "tokens": sum(o.tokens for o in answered),
        "wall_s": wall_s,
        "latency_p50_s": statistics.median(o.latency_s for o in outcomes) if outcomes else 0.0,
        "selection": dict(Counter(o.headers.get("x-atlas-selection", "-") for o in answered)),
        "x_atlas_k": dict(Counter(o.headers.get("x-atlas-k", "missing") for o in answered)),
    }


def _mean(values: Any) -> float:
    items = [bool(v) for v in values]
    return sum(items) / len(items) if items else 0.0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def rows_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| k | best-of-k | raw pass@1 | ATLAS pass@1 | oracle pass@k | oracle (seeds sent) |"
        " requests | errors | candidates | verified | tokens | wall (s) | selection |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        atlas = _pct(r["atlas_pass_at_1"])
        if r["status"].startswith("pending"):
            atlas += " (pending)"
        selection = ", ".join(f"{m} {c}" for m, c in sorted(r["selection"].items()))
        lines.append(
            f"| {r['k']} | {r['status']} | {_pct(r['raw_pass_at_1'])} | {atlas} |"
            f" {_pct(r['oracle_pass_at_k'])} | {_pct(r['oracle_offered'])} | {r['requests']} |"
            f" {r['errors']} | {r['candidates']} | {r['verified']} | {r['tokens']:,} |"
            f" {r['wall_s']:.1f} | {selection} |"
        )
    return "\n".join(lines)


def baseline_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | problems | samples each | raw pass@1 | "
        + " | ".join(f"oracle pass@{k}" for k in DOC_KS[1:])
        + " | mixed problems |",
        "|---|---:|---:|" + "---:|" * len(DOC_KS) + "---:|",
    ]
    for result in results:
        b = result["baseline"]
        oracle = b["oracle_pass_at_k"]
        lines.append(
            f"| {result['dataset']} | {b['problems']} | {b['samples_per_problem']} | "
            + " | ".join(_pct(oracle.get(k)) for k in DOC_KS)
            + f" | {b['mixed_problems']} |"
        )
    name, raw, ref = REFERENCE
    lines.append(
        f"| {name} | 164 | 100 | {_pct(raw)} | "
        + " | ".join(_pct(ref.get(k)) for k in DOC_KS[1:])
        + " | 121 |"
    )
    return "\n".join(lines)


def result_markdown(result: dict[str, Any]) -> str:
    b = result["baseline"]
    head = (
        f"#### {result['dataset']}: {b['problems']} problems x {b['samples_per_problem']}"
        f" samples, repeats {result['repeats']}, gateway {result['gateway'] or 'not used'}"
        f" ({result['date']}, {result['cpus']} CPUs)\n"
    )
    if not result["rows"]:
        return head + "\nBaseline only (no requests sent).\n\n" + baseline_table([result]) + "\n"
    return head + "\n" + rows_table(result["rows"]) + "\n"


def result_name(result: dict[str, Any]) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(result["dataset"]).name.removesuffix(".jsonl"))
    problems = result["baseline"]["problems"]
    return f"{slug}-{problems}p" + (".baseline" if not result["rows"] else "")


def write_outputs(result: dict[str, Any], out: Path, docs: bool) -> str:
    """Write <out>/<name>.json and .md; with docs, rebuild the docs section from <out>."""
    out.mkdir(parents=True, exist_ok=True)
    name = result_name(result)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = result_markdown(result)
    (out / f"{name}.md").write_text(text)
    if docs:
        write_section("selection", docs_section(load_results(out)))
    return text


def load_results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]


def docs_section(results: list[dict[str, Any]]) -> str:
    full: dict[str, dict[str, Any]] = {}
    for result in results:  # one baseline row per dataset: the run over the most problems
        key = result["dataset"]
        if key not in full or result["baseline"]["problems"] > full[key]["baseline"]["problems"]:
            full[key] = result
    parts = [
        SELECTION_INTRO,
        "### Baselines from the pass matrix (no gateway)\n",
        baseline_table(list(full.values())),
        "",
    ]
    with_rows = [r for r in results if r["rows"]]
    parts.append("### Through the gateway\n")
    if not with_rows:
        parts.append("Not measured yet.\n")
    for result in with_rows:
        parts += [result_markdown(result)]
    if any(row["status"].startswith("pending") for r in with_rows for row in r["rows"]):
        parts.append(
            "Rows marked *pending*: the gateway answered without best-of-k"
            " (`x-atlas-k` missing or 1), so those k > 1 figures are pass-through,"
            " not selection.\n"
        )
    return "\n".join(parts)
