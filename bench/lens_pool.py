"""A labelled Lens pool from a replay dataset: real embeddings of real candidates.

Each line written is one candidate in the format `lens.ablation.load_pool` reads:

    {"problem_id": "HumanEval/0", "passed": true, "candidate_id": "HumanEval/0#17",
     "embedding": [...]}

The label is the sample's hidden-test verdict from the pass-matrix cache (no sandbox runs
here); the text embedded is `lens.features.feature_text(prompt, code)`, exactly what the
gateway embeds, sent to an OpenAI-style `/v1/embeddings` endpoint (a llama-server sidecar).

Problems come in a fixed order, mostly mixed ones (some samples pass, some fail: the only
ones where ranking changes the pick), and every problem's candidates are written before
the next problem's, so a run stopped at any point leaves a pool of whole problems. The
output is appended to and done candidates are skipped, so a stopped run resumes.

    python -m bench.lens_pool --dataset bench/out/codet_humaneval_b.jsonl \\
        --passmatrix bench/out/codet_humaneval.passmatrix.jsonl \\
        --embed-url http://127.0.0.1:8931 --problems 164 --per-problem 2 --mixed-share 1 \\
        --out bench/out/lens_pool.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.passmatrix import VerdictCache, answer_code, cache_key
from bench.selection import load_records
from lens.features import feature_text

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 8
DEFAULT_MIXED_SHARE = 0.8
EMBED_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Candidate:
    problem_id: str
    index: int
    code: str
    passed: bool

    @property
    def candidate_id(self) -> str:
        return f"{self.problem_id}#{self.index}"


def plan_problems(
    verdicts: Mapping[str, Sequence[bool]], n: int, mixed_share: float, seed: int
) -> list[str]:
    """`n` problem ids in embedding order: mixed ones interleaved with uniform ones
    (all pass or all fail) so that about `mixed_share` of any prefix is mixed."""
    mixed = sorted(p for p, v in verdicts.items() if any(v) and not all(v))
    uniform = sorted(p for p, v in verdicts.items() if v and (all(v) or not any(v)))
    rng = random.Random(seed)
    rng.shuffle(mixed)
    rng.shuffle(uniform)
    order: list[str] = []
    n_mixed = 0
    while len(order) < n and (mixed or uniform):
        take_mixed = bool(mixed) and (not uniform or n_mixed < mixed_share * (len(order) + 1))
        order.append((mixed if take_mixed else uniform).pop(0))
        n_mixed += take_mixed
    return order


def pick_samples(verdicts: Sequence[bool], codes: Sequence[str], m: int, seed: int) -> list[int]:
    """Up to `m` sample indices with distinct code, half passing and half failing where the
    problem has enough of each (the short side is filled from the other), in index order."""
    seen: set[str] = set()
    passing: list[int] = []
    failing: list[int] = []
    for i, (ok, code) in enumerate(zip(verdicts, codes, strict=True)):
        if code in seen:
            continue
        seen.add(code)
        (passing if ok else failing).append(i)
    rng = random.Random(seed)
    rng.shuffle(passing)
    rng.shuffle(failing)
    n_pass = min(len(passing), max(m // 2, m - len(failing)))
    n_fail = min(len(failing), m - n_pass)
    return sorted(passing[:n_pass] + failing[:n_fail])


def candidates(
    dataset: Path, cache: VerdictCache, n: int, m: int, mixed_share: float, seed: int
) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates to embed, in order, and each problem's prompt."""
    records = {r.id: r for r in load_records(dataset)}
    codes: dict[str, list[str]] = {}
    verdicts: dict[str, list[bool]] = {}
    for pid, record in records.items():
        codes[pid] = [answer_code(s) for s in record.samples]
        known = [cache.get(cache_key(c, record.hidden_tests or "")) for c in codes[pid]]
        if any(v is None for v in known):
            logger.warning(
                "%s: %d samples without a verdict; skipped", pid, sum(v is None for v in known)
            )
            continue
        verdicts[pid] = [bool(v) for v in known]
    out: list[Candidate] = []
    for pid in plan_problems(verdicts, n, mixed_share, seed):
        for i in pick_samples(verdicts[pid], codes[pid], m, seed):
            out.append(
                Candidate(problem_id=pid, index=i, code=codes[pid][i], passed=verdicts[pid][i])
            )
    prompts = {pid: _prompt(r.messages) for pid, r in records.items()}
    return out, prompts


def _prompt(messages: Sequence[dict[str, Any]]) -> str:
    """The problem as the gateway sees it: the last user message."""
    users = [m for m in messages if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text().splitlines():
        if line.strip():
            done.add(json.loads(line)["candidate_id"])
    return done


def embed(client: httpx.Client, texts: list[str]) -> list[list[float]]:
    response = client.post("/v1/embeddings", json={"input": texts})
    response.raise_for_status()
    data = sorted(response.json()["data"], key=lambda d: d["index"])
    return [d["embedding"] for d in data]


def build(args: argparse.Namespace) -> int:
    todo, prompts = candidates(
        args.dataset,
        VerdictCache(args.passmatrix),
        args.problems,
        args.per_problem,
        args.mixed_share,
        args.seed,
    )
    done = done_ids(args.out)
    todo = [c for c in todo if c.candidate_id not in done]
    logger.info("%d candidates to embed (%d already done)", len(todo), len(done))
    start, chars = time.monotonic(), 0
    with (
        httpx.Client(base_url=args.embed_url, timeout=EMBED_TIMEOUT_S) as client,
        args.out.open("a") as fh,
    ):
        for b in range(0, len(todo), args.batch):
            batch = todo[b : b + args.batch]
            texts = [feature_text(prompts[c.problem_id], c.code) for c in batch]
            for c, vec in zip(batch, embed(client, texts), strict=True):
                fh.write(
                    json.dumps(
                        {
                            "problem_id": c.problem_id,
                            "passed": c.passed,
                            "candidate_id": c.candidate_id,
                            "embedding": vec,
                        }
                    )
                    + "\n"
                )
            fh.flush()
            chars += sum(len(t) for t in texts)
            elapsed = time.monotonic() - start
            logger.info(
                "%d/%d embedded, %.1f s, %.0f chars/s, %.2f texts/s",
                b + len(batch),
                len(todo),
                elapsed,
                chars / elapsed,
                (b + len(batch)) / elapsed,
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lens_pool",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--passmatrix", type=Path, required=True)
    parser.add_argument("--embed-url", required=True)
    parser.add_argument("--problems", type=int, default=80)
    parser.add_argument("--per-problem", type=int, default=4)
    parser.add_argument("--mixed-share", type=float, default=DEFAULT_MIXED_SHARE)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return build(args)


if __name__ == "__main__":
    sys.exit(main())
