"""`make bench-live-slots`: concurrent k=20 searches on the embedded 2-slot engine, to
check that the gateway's own requests never fail in the upstream queue.

    python -m bench.live_slots [--problems 3] [--k 20] [--max-tokens 384]

Starts the embedded default gateway (`atlas serve`, no config: the managed llama-server
with its 2 slots), sends `--problems` HumanEval problems at once, each with
`"atlas": {"k": K, "debug": true}` and the prompt with its examples removed, so that
the gateway writes its own tests and its test-writing requests compete with the
candidates for the slots. Reports, per request: status, candidates, candidates with an
error, wall time; and the gateway log lines that name a queue timeout. Exit status 1
when any request or candidate failed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.live_data import INSTRUCTION, humaneval_problems
from bench.live_gateway import embedded_gateway

# Problems the 0.5B model seldom solves at once, so a search runs past its first wave.
TASKS = ("HumanEval/129", "HumanEval/132", "HumanEval/145", "HumanEval/163", "HumanEval/141")
QUEUE_TIMEOUT = re.compile(r"no free upstream slot|queue_full|QueueFull")
# The `>>>` lines and their expected outputs: without them no test is trusted.
_EXAMPLE = re.compile(r"^\s*>>>.*\n(?:[ \t]*[^\s>].*\n)?", re.MULTILINE)


def without_examples(prompt: str) -> str:
    return _EXAMPLE.sub("", prompt)


async def one(
    client: httpx.AsyncClient, url: str, model: str, task: str, prompt: str, k: int, max_tokens: int
) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": [
            {"role": "user", "content": f"{INSTRUCTION}\n```python\n{prompt.rstrip()}\n```"}
        ],
        "temperature": 0,
        "max_tokens": max_tokens,
        "atlas": {"k": k, "debug": True, "repair": 0},
    }
    started = time.monotonic()
    reply = await client.post(url + "/v1/chat/completions", json=body)
    wall = time.monotonic() - started
    row: dict[str, Any] = {"task": task, "status": reply.status_code, "wall_s": round(wall, 1)}
    if reply.status_code == 200:
        report = reply.json().get("atlas", {})
        candidates = report.get("candidates", [])
        row["candidates"] = len(candidates)
        row["candidate_errors"] = [c["error"] for c in candidates if c.get("error")]
        row["tests"] = reply.headers.get("x-atlas-tests")
    else:
        row["error"] = reply.text[:300]
    return row


async def run(problems: int, k: int, max_tokens: int, log: Path) -> list[dict[str, Any]]:
    chosen = [p for p in humaneval_problems() if p.task_id in TASKS][:problems]
    with embedded_gateway(log) as url:
        async with httpx.AsyncClient(timeout=1800) as client:
            models = (await client.get(url + "/v1/models")).json()["data"]
            model = models[0]["id"]
            rows = await asyncio.gather(
                *(
                    one(client, url, model, p.task_id, without_examples(p.prompt), k, max_tokens)
                    for p in chosen
                )
            )
    return list(rows)


def report(rows: list[dict[str, Any]], log: Path) -> int:
    failed = 0
    for row in rows:
        print(row)
        failed += row["status"] != 200 or bool(row.get("candidate_errors"))
    timeouts = [
        line for line in log.read_text(errors="replace").splitlines() if QUEUE_TIMEOUT.search(line)
    ]
    print(f"queue-timeout lines in the gateway log: {len(timeouts)}")
    for line in timeouts[:10]:
        print("  " + line[:200])
    return 1 if failed or timeouts else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=3)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=384)
    args = parser.parse_args(argv)
    log = Path(tempfile.mkdtemp(prefix="atlas-slots-")) / "gateway.log"
    print(f"gateway log: {log}")
    rows = asyncio.run(run(args.problems, args.k, args.max_tokens, log))
    return report(rows, log)


if __name__ == "__main__":
    sys.exit(main())
