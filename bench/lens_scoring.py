"""Latency of Lens scoring: k candidates at width d on the CPU, one torch thread.

    .venv/bin/python -m bench.lens_scoring [--k 20] [--dim 896] [--iters 2000]

Rows: the bare forward pass of the default C(x) (baseline), the same pass plus
the float->tensor conversion, and LensService.score end to end (thread hop
included), fed float lists or float32 bytes. Target: service p99 <= 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path

import torch

from lens.checkpoint import CheckpointStore
from lens.retrain import new_model
from lens.scoring import score_batch, to_matrix
from lens.service import LensService
from lens.settings import LensSettings


def _stats(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * len(samples)))]
    return statistics.median(samples) * 1e3, p99 * 1e3


def _time_sync(fn: Callable[[], object], iters: int) -> tuple[float, float]:
    for _ in range(50):
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return _stats(out)


async def _time_async(fn: Callable[[], Awaitable[object]], iters: int) -> tuple[float, float]:
    for _ in range(50):
        await fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return _stats(out)


async def run(k: int, dim: int, iters: int) -> list[tuple[str, float, float]]:
    torch.set_num_threads(1)
    settings = LensSettings(dim=dim)
    model = new_model(settings).eval()
    x = torch.randn(k, dim)
    floats = x.tolist()
    raw = [array("f", row).tobytes() for row in floats]

    def bare() -> object:
        with torch.inference_mode():
            return model.energy(x)

    rows = [
        ("bare torch forward (baseline)", *_time_sync(bare, iters)),
        (
            "score_batch from float lists",
            *_time_sync(lambda: score_batch(model, to_matrix(floats, dim)), iters),
        ),
        (
            "score_batch from float32 bytes",
            *_time_sync(lambda: score_batch(model, to_matrix(raw, dim)), iters),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = CheckpointStore(Path(tmp))
        checkpoints.save(model, {})
        service = LensService(settings, checkpoints=checkpoints)
        await service.start()
        try:
            rows.append(
                (
                    "LensService.score, float lists",
                    *await _time_async(lambda: service.score(floats), iters),
                )
            )
            rows.append(
                (
                    "LensService.score, float32 bytes",
                    *await _time_async(lambda: service.score(raw), iters),
                )
            )
        finally:
            await service.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--dim", type=int, default=896)
    parser.add_argument("--iters", type=int, default=2000)
    args = parser.parse_args()
    rows = asyncio.run(run(args.k, args.dim, args.iters))
    print(f"k={args.k} d={args.dim} iters={args.iters} torch threads=1 torch {torch.__version__}")
    print("| path | p50 ms | p99 ms |\n|---|---:|---:|")
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.3f} | {p99:.3f} |")


if __name__ == "__main__":
    main()
