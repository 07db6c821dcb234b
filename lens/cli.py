"""`atlas lens train|status|synth-pool` and `atlas bench lens`, for the gateway's CLI to mount.

Each handler takes the parsed argparse Namespace and returns an exit code. train and
status take their Redis client from an opener the mounting CLI passes in (the gateway's
shared store: lens/ may not import the gateway); alone, they connect to `--redis-url`.
`--config` supplies the [lens] settings (checkpoint dir, dim, prefix) the gateway uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis

from config import ConfigError, load_settings
from lens.ablation import load_pool, run_ablation, write_pool
from lens.checkpoint import CheckpointStore
from lens.lease import TrainingLease
from lens.published import PublishedCheckpoints
from lens.report import write_report
from lens.service import LensService
from lens.settings import LensSettings
from lens.store import ExampleStore
from lens.synthetic import synthetic_examples

logger = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
USAGE = 2

# Opens the client train and status use, from their parsed arguments; closes it after.
RedisOpener = Callable[[argparse.Namespace], AbstractAsyncContextManager[aioredis.Redis]]


@asynccontextmanager
async def url_client(args: argparse.Namespace) -> AsyncIterator[aioredis.Redis]:
    """The Redis at `--redis-url` (stand-alone default: a local server on 6379)."""
    client = aioredis.Redis.from_url(args.redis_url or DEFAULT_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the gateway's TOML config: its [lens] and [redis]")
    parser.add_argument("--redis-url", help="this Redis instead of the configured store")
    parser.add_argument("--checkpoint-dir", type=Path, help="default: [lens] checkpoint_dir")
    parser.add_argument("--dim", type=int, help="default: [lens] dim")


def add_lens_commands(subparsers: Any, open_redis: RedisOpener = url_client) -> None:
    """Register `lens train`, `lens status` and `lens synth-pool` under a `lens` command."""
    lens = subparsers.add_parser("lens", help="the Geometric Lens ranker")
    sub = lens.add_subparsers(dest="lens_command", required=True)
    train = sub.add_parser("train", help="train on the stored examples now")
    _common(train)
    train.set_defaults(func=run_lens_train, open_redis=open_redis)
    status = sub.add_parser("status", help="serving checkpoint and stored examples")
    _common(status)
    status.set_defaults(func=run_lens_status, open_redis=open_redis)
    synth = sub.add_parser("synth-pool", help="write a synthetic labelled pool (JSONL)")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--problems", type=int, default=200)
    synth.add_argument("--per-problem", type=int, default=10)
    synth.add_argument("--dim", type=int, default=64)
    synth.add_argument("--separation", type=float, default=2.0)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=run_synth_pool)


def add_bench_lens_command(bench_subparsers: Any) -> None:
    """Register `lens` under the gateway's `bench` command group."""
    bench = bench_subparsers.add_parser("lens", help="k-fold ablation of the Lens on a pool")
    bench.add_argument("--dataset", type=Path, required=True, help="labelled pool (JSONL)")
    bench.add_argument("--out", type=Path, default=Path("bench/results/lens"))
    bench.add_argument("--folds", type=int, default=5)
    bench.add_argument("--epochs", type=int, default=40)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--metric", action="store_true", help="also measure the G(x) step")
    bench.set_defaults(func=run_lens_bench)


def _settings(args: argparse.Namespace) -> LensSettings:
    """The config file's [lens] (the gateway's), with the flags given on top."""
    settings = load_settings(args.config).lens if args.config else LensSettings()
    changes: dict[str, Any] = {}
    if args.dim is not None:
        changes["dim"] = args.dim
    if args.checkpoint_dir is not None:
        changes["checkpoint_dir"] = str(args.checkpoint_dir)
    return msgspec.structs.replace(settings, **changes)


async def _with_service(args: argparse.Namespace, train: bool) -> dict[str, Any]:
    settings = _settings(args)
    async with args.open_redis(args) as client:
        return await _run_service(settings, client, train)


async def _run_service(
    settings: LensSettings, client: aioredis.Redis, train: bool
) -> dict[str, Any]:
    service = LensService(
        settings,
        checkpoints=CheckpointStore(Path(settings.checkpoint_dir), settings.keep_checkpoints),
        store=ExampleStore(
            client, prefix=settings.redis_prefix, max_examples=settings.store_max_examples
        ),
        # As a gateway replica: train under the lease, publish to the replicas.
        lease=TrainingLease(client, prefix=settings.redis_prefix, ttl_s=settings.lease_ttl_s),
        published=PublishedCheckpoints(client, prefix=settings.redis_prefix),
    )
    try:
        await service.start()
        result = service.status()
        result["stored_examples"] = await ExampleStore(client, prefix=settings.redis_prefix).count()
        if train:
            result["outcome"] = msgspec.to_builtins(await service.train_now())
        return result
    finally:
        await service.close()


def run_lens_train(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_with_service(args, train=True))
    except ConfigError as exc:
        sys.stderr.write(f"atlas: invalid configuration: {exc}\n")
        return USAGE
    print(json.dumps(result, indent=2))
    return 0 if result["outcome"]["swapped"] else 1


def run_lens_status(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_with_service(args, train=False))
    except ConfigError as exc:
        sys.stderr.write(f"atlas: invalid configuration: {exc}\n")
        return USAGE
    print(json.dumps(result, indent=2))
    return 0


def run_synth_pool(args: argparse.Namespace) -> int:
    examples = synthetic_examples(
        args.problems, args.per_problem, args.dim, separation=args.separation, seed=args.seed
    )
    write_pool(args.out, examples)
    print(f"wrote {len(examples)} candidates of {args.problems} problems to {args.out}")
    return 0


def run_lens_bench(args: argparse.Namespace) -> int:
    examples = load_pool(args.dataset)
    settings = LensSettings(
        dim=examples[0].dim, epochs=args.epochs, seed=args.seed, metric_correction=args.metric
    )
    results, curve = run_ablation(examples, settings, folds=args.folds)
    report = write_report(args.out, str(args.dataset), settings, results, curve)
    print(json.dumps(report["summary"], indent=2))
    print(f"report: {args.out / 'ablation.json'}; plots: {report['plots'] or 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m lens.cli ...`) until the gateway mounts these."""
    parser = argparse.ArgumentParser(prog="lens")
    sub = parser.add_subparsers(dest="command", required=True)
    add_lens_commands(sub)
    bench = sub.add_parser("bench").add_subparsers(dest="bench_command", required=True)
    add_bench_lens_command(bench)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
