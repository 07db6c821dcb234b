"""A gateway in a process of its own, for benchmarks that measure its RSS: started from
a TOML config, waited for, stopped with the benchmark's ExitStack."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.overhead import free_port, start

START_TIMEOUT_S = 60.0


class GatewayProcess:
    def __init__(self, url: str, pid: int, log: Path) -> None:
        self.url, self.pid, self.log = url, pid, log

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.pid}")


def start_gateway_process(stack: ExitStack, config_body: str, prefix: str) -> GatewayProcess:
    """`config_body`: the TOML after `[server]`'s port line (which this adds)."""
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    config = work / "atlas.toml"
    config.write_text(f"[server]\nport = {port}\n{config_body}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
    log = work / "gateway.log"
    proc = start(stack, command, env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health").status_code == 200:
                return GatewayProcess(url, proc.pid, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway did not come up")
