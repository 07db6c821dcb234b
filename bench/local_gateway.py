"""An in-process ATLAS gateway serving a replay dataset, for benchmarks.

The gateway gets a copy of the dataset without `hidden_tests`, so nothing it does can
depend on the tests the benchmark judges it by. It runs under uvicorn in its own thread
(and event loop), as a separate process would, on a free loopback port.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from config import Settings
from gateway.app import create_app
from gateway.testing import serve_in_thread

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def strip_hidden_tests(source: Path, target: Path) -> None:
    """Copy a replay dataset, dropping every record's `hidden_tests`."""
    with source.open(encoding="utf-8") as inp, target.open("w", encoding="utf-8") as out:
        for line in inp:
            if line.strip():
                record = json.loads(line)
                record.pop("hidden_tests", None)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def replay_settings(
    dataset: Path,
    model: str,
    test_requests: int = 0,
    strategy: dict[str, Any] | None = None,
    redis: dict[str, Any] | None = None,
) -> Settings:
    """`strategy` replaces the best-of-k one below (the routing benchmark's router);
    `redis` the store's settings (a data dir of its own: posteriors start fresh)."""
    return msgspec.convert(
        {
            "server": {"log_level": "warning"},
            **({"redis": redis} if redis else {}),
            # max_k at its ceiling so the benchmark can ask for k=100 (CodeT's setting);
            # k = 1: best-of-k only when the benchmark forces k.
            "models": [
                {
                    "name": model,
                    "engine": "replay",
                    "dataset": str(dataset),
                    "strategy": strategy
                    or {
                        "type": "best_of_k",
                        "k": 1,
                        "max_k": 128,
                        "test_requests": test_requests,
                        # A replay has no answer to a repair request: no repair rounds.
                        "repair_rounds": 0,
                        # A replay answers at once, so the budget (a multiple of the
                        # first answer's time, at least 1 s) would measure the load on
                        # the machine's sandbox, not the search: none.
                        "time_budget": 0,
                    },
                }
            ],
        },
        Settings,
        strict=True,
    )


@contextmanager
def local_gateway(
    dataset: Path,
    model: str,
    test_requests: int = 0,
    strategy: dict[str, Any] | None = None,
    own_store: bool = False,
) -> Iterator[str]:
    """Yield the base URL (".../v1") of a gateway answering `model` from `dataset`;
    `own_store`: an embedded Redis in the temporary directory, empty at the start."""
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as workdir:
        served = Path(workdir) / "replay.jsonl"
        strip_hidden_tests(dataset, served)
        redis = {"data_dir": str(Path(workdir) / "data")} if own_store else None
        app = create_app(replay_settings(served, model, test_requests, strategy, redis))
        background = serve_in_thread(app, lifespan="on", start_timeout_s=START_TIMEOUT_S)
        try:
            yield background.url + "/v1"
        finally:
            background.stop(STOP_TIMEOUT_S)
