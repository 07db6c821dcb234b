"""A Lens replica that keeps trying to train, for the lease's process-level test.

    python -m tests.fakes.lens_trainer REDIS_URL PREFIX CHECKPOINT_DIR LEASE_TTL_S

It runs a real LensService with the real lease and publication on REDIS_URL, and calls
`train_now()` in a loop. Its one stand-in is the training function: it holds the
cycle until the service stops it (the lease lost, or close), so whoever gets the lease
keeps it, renewing, until it is killed. Prints "ready" once started.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis

from lens.checkpoint import CheckpointStore
from lens.lease import TrainingLease
from lens.model import LensModel
from lens.published import PublishedCheckpoints
from lens.records import Example
from lens.retrain import Candidate
from lens.service import LensService
from lens.settings import LensSettings
from lens.store import ExampleStore
from lens.trainer import NotEnoughDataError, StopFlag


def train_until_stopped(
    current: LensModel | None, examples: Sequence[Example], settings: LensSettings, stop: StopFlag
) -> Candidate:
    while not stop():
        time.sleep(0.02)
    raise NotEnoughDataError("stopped")


async def main(url: str, prefix: str, directory: str, ttl_s: float) -> None:
    settings = LensSettings(
        dim=8, hidden=(8,), min_train_examples=1, lease_ttl_s=ttl_s, poll_interval_s=0.2
    )
    client = aioredis.Redis.from_url(url)
    service = LensService(
        settings,
        checkpoints=CheckpointStore(Path(directory)),
        store=ExampleStore(client, prefix=prefix),
        train_fn=train_until_stopped,
        lease=TrainingLease(client, prefix=prefix, ttl_s=ttl_s),
        published=PublishedCheckpoints(client, prefix=prefix),
    )
    await service.start()
    print("ready", flush=True)
    try:
        while True:
            await service.train_now()
            await asyncio.sleep(0.05)
    finally:
        await service.close()
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
