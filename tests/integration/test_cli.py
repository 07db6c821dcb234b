"""The `atlas` command as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ATLAS = [sys.executable, "-m", "gateway.cli"]


def test_serve_without_upstream_answers_health_and_explains_503(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env["ATLAS_CACHE_DIR"] = str(tmp_path / "no-installed-stack")
    proc = subprocess.Popen(
        [*ATLAS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(url + "/health").json() == {"status": "ok"}
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "atlas serve did not start"
                time.sleep(0.1)
        answer = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "any", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "upstream_unavailable"
        assert "ATLAS_UPSTREAM_URL" in error["message"]
        assert httpx.get(url + "/ready").status_code == 503
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_config_check_prints_masked_config(tmp_path: Path) -> None:
    path = tmp_path / "atlas.toml"
    path.write_text(
        '[server]\nmaster_key = "sk-very-secret"\n'
        '[[models]]\nname = "m"\nupstreams = ["http://127.0.0.1:8080"]\n'
    )
    result = subprocess.run(
        [*ATLAS, "config", "check", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert '"master_key": "***"' in result.stdout
    assert "sk-very-secret" not in result.stdout


def test_config_check_names_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "atlas.toml"
    path.write_text('[[models]]\nname = "m"\nupstream = ["http://127.0.0.1:8080"]\n')
    result = subprocess.run(
        [*ATLAS, "config", "check", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "models[0].upstream: unknown key" in result.stderr


def test_atlas_bench_runs_the_benchmarks_own_entry_point() -> None:
    # The gateway never imports bench/: `atlas bench` starts `python -m bench`.
    done = subprocess.run(
        [*ATLAS, "bench", "selection", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--dataset" in done.stdout
    wrong = subprocess.run([*ATLAS, "bench", "nope"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
