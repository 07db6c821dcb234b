"""Lens replicas on one real Redis: what one trains and publishes the others load; a
cycle without the lease does not train, one that loses it publishes nothing; and, with
real processes, the lease moves when its holder is killed."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import torch

from lens.checkpoint import CheckpointStore
from lens.lease import TrainingLease
from lens.model import LensModel
from lens.published import PublishedCheckpoints
from lens.records import Example
from lens.retrain import Candidate, train_candidate
from lens.service import LensService, TrainFn
from lens.settings import LensSettings
from lens.store import ExampleStore
from lens.synthetic import synthetic_examples
from lens.trainer import StopFlag

pytestmark = [pytest.mark.redis, pytest.mark.timeout(15)]
torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = LensSettings(
    dim=32,
    hidden=(64, 32),
    epochs=25,
    patience=5,
    train_every=10_000,
    min_train_examples=50,
    # Renewed every ttl/3 from the event loop: short enough for the tests, long enough
    # that a loop stalled by a loaded CI machine does not lose it (0.6 s once did).
    lease_ttl_s=3.0,
    poll_interval_s=0.1,
)


@dataclass
class Cluster:
    url: str
    client: aioredis.Redis
    prefix: str
    root: Path

    def replica(self, name: str, train_fn: TrainFn = train_candidate) -> LensService:
        """A LensService as a gateway replica builds it, with a checkpoint dir of its own."""
        return LensService(
            SETTINGS,
            checkpoints=CheckpointStore(self.root / name),
            store=ExampleStore(self.client, prefix=self.prefix),
            lease=TrainingLease(self.client, prefix=self.prefix, ttl_s=SETTINGS.lease_ttl_s),
            published=PublishedCheckpoints(self.client, prefix=self.prefix),
            train_fn=train_fn,
        )


@pytest.fixture
async def cluster(redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    conn = aioredis.Redis.from_url(redis_url)
    yield Cluster(redis_url, conn, f"t{uuid.uuid4().hex[:8]}:", tmp_path)
    await conn.aclose()


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_checkpoint_published_by_one_replica_is_loaded_by_the_other(
    cluster: Cluster,
) -> None:
    a, b = cluster.replica("a"), cluster.replica("b")
    await a.start()
    await b.start()
    try:
        await a.record(synthetic_examples(30, 10, 32, seed=1))
        first = await a.train_now()
        assert first.swapped and first.version == 1
        await _until(lambda: b.status()["version"] == 1)
        assert b.ready and b.status()["trained_through"] == a.status()["trained_through"]
        assert b.status()["replay_size"] == 300 and b.status()["pending_examples"] == 0
        probe = [[0.1 * i] * 32 for i in range(4)]
        assert await b.score(probe) == await a.score(probe)
        assert CheckpointStore(cluster.root / "b").versions() == [1]  # B's own copy

        # B trains next, on top of A's model, and A follows.
        await b.record(synthetic_examples(30, 10, 32, seed=2, prefix="q"))
        second = await b.train_now()
        assert second.swapped and second.version == 2
        assert second.current_val_auc is not None  # warm-started from v1
        await _until(lambda: a.status()["version"] == 2)
        assert a.status()["replay_size"] == 600
    finally:
        await a.close()
        await b.close()
    restarted = cluster.replica("c")  # a new replica starts on the published checkpoint
    await restarted.start()
    try:
        assert restarted.status()["version"] == 2 and restarted.ready
    finally:
        await restarted.close()


async def test_a_replica_without_the_lease_does_not_train(cluster: Cluster) -> None:
    other = TrainingLease(cluster.client, prefix=cluster.prefix, ttl_s=10)
    held = await other.acquire()
    assert held is not None
    service = cluster.replica("a")
    await service.start()
    try:
        await service.record(synthetic_examples(30, 10, 32, seed=1))
        outcome = await service.train_now()
        assert not outcome.swapped
        assert outcome.reason == "another replica holds the training lease"
        assert not service.ready and service.status()["pending_examples"] == 300
        await other.release(held)
        assert (await service.train_now()).swapped
    finally:
        await service.close()


async def test_a_cycle_that_loses_the_lease_publishes_nothing(cluster: Cluster) -> None:
    lease_key = TrainingLease(cluster.client, prefix=cluster.prefix, ttl_s=1).key

    def train_until_lease_lost(
        current: LensModel | None,
        examples: Sequence[Example],
        settings: LensSettings,
        stop: StopFlag,
    ) -> Candidate:
        deadline = time.monotonic() + 10
        while not stop() and time.monotonic() < deadline:
            time.sleep(0.02)
        return train_candidate(current, examples, settings)  # a good model, too late

    service = cluster.replica("a", train_until_lease_lost)
    await service.start()
    try:
        await service.record(synthetic_examples(30, 10, 32, seed=1))
        cycle = asyncio.create_task(service.train_now())
        await _until(lambda: service.training)
        await asyncio.sleep(0.2)
        await cluster.client.set(lease_key, b"another replica")  # the lease moved on
        outcome = await asyncio.wait_for(cycle, 10)
        assert not outcome.swapped and outcome.reason == "training lease lost; candidate dropped"
        assert await PublishedCheckpoints(cluster.client, prefix=cluster.prefix).version() is None
        assert not service.ready and CheckpointStore(cluster.root / "a").versions() == []
        assert service.status()["pending_examples"] == 300  # still to be trained on
    finally:
        await service.close()


def _spawn_trainer(cluster: Cluster, name: str, ttl_s: float) -> subprocess.Popen[str]:
    """A replica process (tests/fakes/lens_trainer.py) on the cluster's Redis and prefix."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.fakes.lens_trainer"),
            *(cluster.url, cluster.prefix, str(cluster.root / name), str(ttl_s)),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


async def _holder_pid(lease: TrainingLease) -> int | None:
    holder = await lease.holder()  # host:pid:random
    return None if holder is None else int(holder.split(":")[1])


@pytest.mark.slow
@pytest.mark.timeout(45)  # two interpreters importing torch, then 2.5 ttls held
async def test_the_lease_moves_when_its_holder_is_killed(cluster: Cluster) -> None:
    ttl_s = 2.0
    store = ExampleStore(cluster.client, prefix=cluster.prefix)
    await store.add(synthetic_examples(2, 2, 8, seed=1))  # something to train on
    lease = TrainingLease(cluster.client, prefix=cluster.prefix, ttl_s=ttl_s)
    procs = [_spawn_trainer(cluster, name, ttl_s) for name in ("a", "b")]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert await asyncio.to_thread(proc.stdout.readline) == "ready\n"
        by_pid = {proc.pid: proc for proc in procs}
        deadline = time.monotonic() + 5
        while (holder := await _holder_pid(lease)) not in by_pid:
            assert time.monotonic() < deadline, "no replica took the lease"
            await asyncio.sleep(0.05)
        for _ in range(round(25 * ttl_s)):  # 2.5 ttls: renewed, never taken by the other
            assert await _holder_pid(lease) == holder
            await asyncio.sleep(0.1)
        assert await cluster.client.get(lease.fence_key) == b"1"  # one acquisition so far

        killed = by_pid.pop(holder)
        (survivor,) = by_pid.values()
        killed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(killed.wait)
        started = time.monotonic()
        while await _holder_pid(lease) != survivor.pid:
            assert time.monotonic() - started < ttl_s + 1.0, "the lease did not move"
            await asyncio.sleep(0.05)
        assert await cluster.client.get(lease.fence_key) == b"2"
        assert survivor.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
