"""Precision and recall of the code-request detector on labelled requests.

`python -m bench.code_detector` prints, for tests/data/code_requests.json, the figures
of the detector before (any code word anywhere: `looks_like_code_request` over every
message's text) and now (`looks_like_code_call`), on the tuning part, the held-out
part (written with it, not looked at while tuning), the fresh part (written after the
detector was final), the captured part (what real clients send: captures and their
released prompt templates, never tuned on) and all of it. "code" items are the
positives: asks best-of-k should answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.strategies.choose import looks_like_code_call, looks_like_code_request

DATA = Path(__file__).parents[1] / "tests" / "data" / "code_requests.json"


@dataclass(frozen=True, slots=True)
class Msg:
    role: str
    content: str | list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    precision: float
    recall: float
    accuracy: float
    wrong: tuple[str, ...]


def load(path: Path = DATA) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(path.read_text())["items"]
    return items


def messages_of(item: dict[str, Any]) -> list[Msg]:
    return [Msg(m["role"], m.get("content")) for m in item["messages"]]


def before(messages: Sequence[Msg]) -> bool:
    text = "\n".join(m.content for m in messages if isinstance(m.content, str))
    return looks_like_code_request(text)


def now(messages: Sequence[Msg]) -> bool:
    return looks_like_code_call(messages)


def score(items: list[dict[str, Any]], detector: Callable[[Sequence[Msg]], bool]) -> Scores:
    tp = fp = fn = tn = 0
    wrong = []
    for item in items:
        said, truth = detector(messages_of(item)), item["label"] == "code"
        tp += said and truth
        fp += said and not truth
        fn += truth and not said
        tn += not said and not truth
        if said != truth:
            wrong.append(item["id"])
    return Scores(
        n=len(items),
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        accuracy=(tp + tn) / len(items),
        wrong=tuple(wrong),
    )


def main(argv: list[str] | None = None) -> int:
    items = load()
    parts = {
        "tune": [i for i in items if i["split"] == "tune"],
        "holdout": [i for i in items if i["split"] == "holdout"],
        "fresh": [i for i in items if i["split"] == "fresh"],
        "captured": [i for i in items if i["split"] == "captured"],
        "all": items,
    }
    print("| detector | part | n | precision | recall | accuracy |")
    print("|---|---|---|---|---|---|")
    for name, detector in (("before", before), ("now", now)):
        for part, chosen in parts.items():
            s = score(chosen, detector)
            print(
                f"| {name} | {part} | {s.n} | {s.precision:.2f} | {s.recall:.2f} "
                f"| {s.accuracy:.2f} |"
            )
    for name, detector in (("before", before), ("now", now)):
        print(f"{name} wrong: {', '.join(score(items, detector).wrong) or '-'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
