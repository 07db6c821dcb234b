"""`atlas lens status` reads the Lens' examples from the gateway's store (the embedded
one here) by default, with the config file's [lens]; `--redis-url` overrides the store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from config.redis import RedisSettings
from gateway.wiring.redis_store import open_store
from lens.records import make_example
from lens.store import ExampleStore
from tests.integration.atlas_commands import ATLAS, ROOT, atlas_env, redis_servers

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]


def status(data_dir: Path, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [*ATLAS, "lens", "status", *args],
        cwd=ROOT,
        env=atlas_env(data_dir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_lens_status_reads_the_shared_store(tmp_path: Path, redis_url: str) -> None:
    prefix = f"lens-{uuid.uuid4().hex[:8]}:"

    async def record() -> None:
        async with open_store(RedisSettings(data_dir=str(tmp_path)), role="command") as store:
            examples = [
                make_example(
                    [float(i), 1.0], passed=i % 2 == 0, test_source="request", problem_id="p"
                )
                for i in range(3)
            ]
            await ExampleStore(store.redis, prefix=prefix).add(examples)

    asyncio.run(record())
    config = tmp_path / "atlas.toml"
    config.write_text(f'[lens]\nredis_prefix = "{prefix}"\ndim = 2\n')
    ckpt = ["--checkpoint-dir", str(tmp_path / "ckpt")]
    assert status(tmp_path, "--config", str(config), *ckpt)["stored_examples"] == 3
    assert redis_servers(tmp_path) == []  # the command stopped the server it started
    # An explicit --redis-url wins: that server holds nothing under this prefix.
    override = status(tmp_path, "--config", str(config), "--redis-url", redis_url, *ckpt)
    assert override["stored_examples"] == 0


def test_an_unreachable_override_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *ATLAS,
            "lens",
            "status",
            "--redis-url",
            "redis://127.0.0.1:1/0",
            "--checkpoint-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=atlas_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 1
    assert (
        done.stderr.startswith("atlas: the Redis store failed: ") and done.stderr.count("\n") == 1
    )
