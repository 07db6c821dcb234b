"""Gateway overhead: a fast scripted upstream measured directly, through ATLAS, and
through LiteLLM's proxy (one worker), with `hey` at concurrency 1 and 32, in one run.
ATLAS is measured with its master key (`atlas`), with an API key that has no limits
(`atlas-key`: the key check, from the key cache) and with one that has limits
(`atlas-key-limits`: also admission, the charge and the release: three Redis round
trips).

    make bench-overhead                      # LiteLLM from /tmp/litellm-venv if present
    make bench-overhead ARGS="--litellm-bin PATH/litellm --duration 10"

Install the peer baseline into a throwaway venv first:
    python3.12 -m venv /tmp/litellm-venv
    /tmp/litellm-venv/bin/pip install 'litellm[proxy]==1.79.3'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.report import write_section
from config import RedisSettings
from config.accounts import AccountsSettings
from gateway.accounts.schema import KeyLimits
from gateway.accounts.service import open_accounts
from gateway.wiring.redis_store import open_store

BODY = json.dumps(
    {"model": "coder", "max_tokens": 16, "messages": [{"role": "user", "content": "Say hello."}]}
)
# The same content in the other wire protocols: their rows show what translation costs.
PROTOCOL_BODIES = {
    "atlas-responses": (
        "/v1/responses",
        json.dumps({"model": "coder", "max_output_tokens": 16, "input": "Say hello."}),
    ),
    "atlas-messages": (
        "/v1/messages",
        json.dumps(
            {
                "model": "coder",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "Say hello."}],
            }
        ),
    ),
}
DEFAULT_LITELLM = "/tmp/litellm-venv/bin/litellm"
MASTER_KEY = "sk-bench"
# Far above what the bench sends: admission is checked, nothing is refused.
BENCH_LIMITS = KeyLimits(rpm=10_000_000, tpm=10_000_000_000, concurrency=1_000)


@dataclass
class Result:
    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    stack: ExitStack, cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    handle = stack.enter_context(log.open("wb"))
    proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
    stack.callback(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    timeout: float = 120,
    key: str = MASTER_KEY,
    body: str = BODY,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            answer = httpx.post(
                url,
                content=body,
                headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
            )
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 in {timeout} s")


def hey(
    url: str, concurrency: int, duration: float, key: str = MASTER_KEY, body: str = BODY
) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{duration}s",
            "-c",
            str(concurrency),
            "-m",
            "POST",
            "-T",
            "application/json",
            "-A",
            "application/json",
            "-H",
            f"Authorization: Bearer {key}",
            "-d",
            body,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    errors = sum(int(n) for code, n in statuses.items() if code != "200")
    errors += (
        len(re.findall(r"^\s+\[\d+\]\s+Get|Post", out.split("Error distribution:")[-1]))
        if "Error distribution:" in out
        else 0
    )
    return rps, p50, p99, errors


def litellm_config(path: Path, upstream: str) -> None:
    path.write_text(
        "model_list:\n"
        "  - model_name: coder\n"
        "    litellm_params:\n"
        "      model: openai/coder\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: sk-upstream\n"
        "general_settings:\n"
        "  master_key: sk-bench\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )


def api_keys(data_dir: Path) -> dict[str, str]:
    """Two API keys made in the running gateway's store (its embedded Redis, joined as a
    guest): one without limits, one with limits it never reaches."""

    async def make() -> dict[str, str]:
        async with (
            open_store(RedisSettings(data_dir=str(data_dir)), role="command") as store,
            open_accounts(store.redis, store.prefix, AccountsSettings()) as accounts,
        ):
            user = await accounts.users.create("bench", "bench password, not secret")
            free = await accounts.keys.create(user.id, "no limits")
            limited = await accounts.keys.create(user.id, "limits", limits=BENCH_LIMITS)
            return {"atlas-key": free.key, "atlas-key-limits": limited.key}

    return asyncio.run(make())


def run(args: argparse.Namespace) -> list[Result]:
    if shutil.which("hey") is None:
        sys.exit("hey is not installed: apt-get install hey")
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    targets: dict[str, str] = {}
    with ExitStack() as stack:
        up_port, atlas_port = free_port(), free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        proc = start(
            stack,
            [sys.executable, "-m", "tests.fakes.upstream", "--port", str(up_port)],
            env,
            work / "upstream.log",
        )
        targets["direct"] = f"{upstream}/v1/chat/completions"
        wait_ready(targets["direct"], proc)
        atlas_env = {
            **env,
            "ATLAS_UPSTREAM_URL": upstream,
            "ATLAS_MODEL_NAME": "coder",
            "ATLAS_LOG_LEVEL": "warning",
            "ATLAS_MASTER_KEY": MASTER_KEY,
            "ATLAS_DATA_DIR": str(work / "data"),  # its own store, not ~/.cache/atlas
        }
        proc = start(
            stack,
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(atlas_port)],
            atlas_env,
            work / "atlas.log",
        )
        targets["atlas"] = f"http://127.0.0.1:{atlas_port}/v1/chat/completions"
        wait_ready(targets["atlas"], proc)
        keys = {"atlas": MASTER_KEY, **api_keys(work / "data")}
        for name, key in keys.items():
            targets.setdefault(name, targets["atlas"])
            wait_ready(targets[name], proc, key=key)
        bodies: dict[str, str] = {}
        for name, (path, body) in PROTOCOL_BODIES.items():
            targets[name] = f"http://127.0.0.1:{atlas_port}{path}"
            bodies[name] = body
            wait_ready(targets[name], proc, body=body)
        if args.litellm_bin and Path(args.litellm_bin).exists():
            port = free_port()
            litellm_config(work / "litellm.yaml", upstream)
            lenv = {
                **env,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
                "DISABLE_SCHEMA_UPDATE": "True",
            }
            proc = start(
                stack,
                [
                    args.litellm_bin,
                    "--config",
                    str(work / "litellm.yaml"),
                    "--port",
                    str(port),
                    "--num_workers",
                    "1",
                ],
                lenv,
                work / "litellm.log",
            )
            targets["litellm"] = f"http://127.0.0.1:{port}/v1/chat/completions"
            wait_ready(targets["litellm"], proc, timeout=180)
        else:
            print(f"LiteLLM not found at {args.litellm_bin}; measuring without the peer baseline")
        results = []
        for concurrency in (1, 32):
            for name, url in targets.items():
                key = keys.get(name, MASTER_KEY)
                body = bodies.get(name, BODY)
                hey(url, concurrency, 2, key, body)  # warm-up
                rps, p50, p99, errors = hey(url, concurrency, args.duration, key, body)
                results.append(Result(name, concurrency, rps, p50, p99, errors))
                print(
                    f"{name:8s} c={concurrency:<3d} rps={rps:9.1f} p50={p50:7.2f} ms "
                    f"p99={p99:7.2f} ms errors={errors}",
                    flush=True,
                )
    return results


def table(results: list[Result]) -> str:
    by = {(r.target, r.concurrency): r for r in results}
    lines = [
        "| target | concurrency | RPS | p50 (ms) | p99 (ms) | non-200 |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.target} | {r.concurrency} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
        f"| {r.errors} |"
        for r in results
    ]
    ratios = []
    for c in (1, 32):
        direct, atlas, lite = by.get(("direct", c)), by.get(("atlas", c)), by.get(("litellm", c))
        if direct and atlas:
            ratios.append(
                f"- c={c}: ATLAS adds {atlas.p50_ms - direct.p50_ms:+.2f} ms p50 over "
                f"direct; ATLAS RPS is {atlas.rps / direct.rps:.2f}x direct"
            )
        for name in ("atlas-key", "atlas-key-limits"):
            keyed = by.get((name, c))
            if atlas and keyed:
                ratios.append(
                    f"- c={c}: {name} adds {keyed.p50_ms - atlas.p50_ms:+.2f} ms p50 over the "
                    f"master key; RPS {keyed.rps / atlas.rps:.2f}x"
                )
        for name in PROTOCOL_BODIES:
            translated = by.get((name, c))
            if atlas and translated:
                ratios.append(
                    f"- c={c}: {name} adds {translated.p50_ms - atlas.p50_ms:+.2f} ms p50 over "
                    f"chat with the same content; RPS {translated.rps / atlas.rps:.2f}x"
                )
        if atlas and lite:
            ratios.append(
                f"- c={c}: ATLAS RPS is {atlas.rps / lite.rps:.1f}x LiteLLM's; p50 "
                f"{atlas.p50_ms:.2f} ms against {lite.p50_ms:.2f} ms"
            )
    return "\n".join([*lines, "", *ratios])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--litellm-bin", default=DEFAULT_LITELLM)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    results = run(args)
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    body = (
        "## Gateway overhead (pass-through, k=1)\n\n"
        f"`make bench-overhead`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}. The scripted upstream "
        "(`tests/fakes/upstream.py`, uvicorn + uvloop), the gateway, LiteLLM proxy 1.79.3 "
        "(`--num_workers 1`) and `hey` all share the same cores; a non-streaming chat "
        f"completion of ~{len(BODY)} bytes, {args.duration:g} s per row after a 2 s warm-up.\n\n"
        + table(results)
    )
    print(body)
    if not args.no_doc:
        write_section("overhead", body)


if __name__ == "__main__":
    main()
