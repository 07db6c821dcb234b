"""The managed engines one gateway owns: built from settings, wired to upstream pools,
started and stopped together, and reported to /ready and /metrics."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from config.engines import EngineSettings
from engines.llama_flags import FlagProber
from engines.pool import DEFAULT_INTERNAL_QUEUE_TIMEOUT_S, Upstream, UpstreamPool
from engines.supervisor import EngineStartError, EngineState, ManagedEngine
from engines.telemetry import SpecTelemetry

logger = logging.getLogger(__name__)

BINARY_NAME = "llama-server"
STATUS_LOG_LINES = 20


class EngineBinaryNotFoundError(Exception):
    """No llama-server to run: none configured, none on PATH, none installed."""


def resolve_binary(configured: str | None, installed: Path | None) -> str:
    """The configured binary, else `llama-server` on PATH, else the installed one."""
    if configured is not None:
        return str(Path(configured).expanduser())
    found = shutil.which(BINARY_NAME)
    if found is not None:
        return found
    if installed is not None and installed.is_file():
        return str(installed)
    raise EngineBinaryNotFoundError(
        "no llama-server: set `binary` on the engine, put llama-server on PATH, "
        "or run `atlas engines install`"
    )


class ManagedEngines:
    """Owns every ManagedEngine of the process; the gateway calls start() and aclose()."""

    def __init__(
        self,
        settings: Sequence[EngineSettings],
        *,
        installed_binary: Path | None = None,
        prober: FlagProber | None = None,
    ) -> None:
        self._prober = prober or FlagProber()
        self._bindings: dict[str, list[tuple[UpstreamPool, Upstream]]] = {}
        self.engines: dict[str, ManagedEngine] = {}
        for engine_settings in settings:
            binary = resolve_binary(engine_settings.binary, installed_binary)
            self.engines[engine_settings.name] = ManagedEngine(
                engine_settings, binary=binary, prober=self._prober, on_state=self._on_state
            )

    def __bool__(self) -> bool:
        return bool(self.engines)

    def placeholder(self, name: str) -> Upstream:
        """An upstream for a pool, down until the engine is ready; pass it to bind()."""
        engine = self.engines[name]
        return Upstream(
            f"http://managed.invalid/{name}",
            name=name,
            max_in_flight=engine.settings.parallel,
            healthy=False,
            last_error=f"engine {name!r} is {engine.state}",
        )

    def bind(self, name: str, pool: UpstreamPool, upstream: Upstream) -> None:
        """Keep `upstream` (one of `pool`'s) pointed at the engine and marked by its state."""
        self._bindings.setdefault(name, []).append((pool, upstream))

    def build_pool(
        self,
        model: str,
        upstreams: Sequence[Upstream],
        engine_names: Sequence[str],
        *,
        role: str = "generation",
        queue_timeout_s: float = 30.0,
        max_queue: int = 256,
        max_queue_per_key: int | None = None,
        internal_queue_timeout_s: float = DEFAULT_INTERNAL_QUEUE_TIMEOUT_S,
    ) -> UpstreamPool:
        """A pool of `upstreams` plus one upstream per named engine, kept in step with it."""
        managed = [(name, self.placeholder(name)) for name in engine_names]
        pool = UpstreamPool(
            model,
            [*upstreams, *(u for _, u in managed)],
            role=role,
            queue_timeout_s=queue_timeout_s,
            max_queue=max_queue,
            max_queue_per_key=max_queue_per_key,
            internal_queue_timeout_s=internal_queue_timeout_s,
        )
        for name, upstream in managed:
            self.bind(name, pool, upstream)
        return pool

    def _on_state(self, engine: ManagedEngine) -> None:
        ready = engine.state is EngineState.READY
        for pool, upstream in self._bindings.get(engine.name, ()):
            if ready and engine.url is not None:
                upstream.url = engine.url
            error = None if ready else f"engine {engine.name!r} is {engine.state}"
            if engine.state is EngineState.FAILED:
                error = f"engine {engine.name!r} failed: {engine.last_error}"
            pool.mark(upstream, ready, error)

    async def start(self) -> None:
        """Start every engine together and wait; failures are logged and left in /ready."""
        names = list(self.engines)
        results = await asyncio.gather(
            *(self.engines[n].ensure_ready() for n in names), return_exceptions=True
        )
        for name, result in zip(names, results, strict=True):
            if isinstance(result, EngineStartError):
                logger.error("managed engine %s did not start: %s", name, result.reason)
            elif isinstance(result, BaseException):
                raise result

    async def aclose(self) -> None:
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()))

    def telemetry_for(self, upstream_url: str) -> SpecTelemetry | None:
        """The telemetry of the engine now serving at `upstream_url` (from a reply)."""
        for engine in self.engines.values():
            if engine.url == upstream_url:
                return engine.telemetry
        return None

    def record_reply(self, upstream_url: str, body: bytes) -> None:
        """Count `timings` of a JSON reply or a stream chunk from a managed engine."""
        telemetry = self.telemetry_for(upstream_url)
        if telemetry is not None:
            telemetry.record_body(body)

    def all_ready(self) -> bool:
        return all(e.state is EngineState.READY for e in self.engines.values())

    def status(self) -> dict[str, dict[str, Any]]:
        """Per engine: state, URL, pid, restarts, speculative telemetry; logs when failed."""
        report: dict[str, dict[str, Any]] = {}
        for name, engine in self.engines.items():
            entry: dict[str, Any] = {
                "role": engine.settings.role,
                "state": str(engine.state),
                "url": engine.url,
                "pid": engine.pid,
                "restarts": engine.restarts,
                "last_error": engine.last_error,
            }
            if engine.settings.draft_model is not None:
                entry["speculative"] = engine.telemetry.snapshot()
            if engine.state is EngineState.FAILED:
                entry["last_logs"] = engine.last_logs(STATUS_LOG_LINES)
            report[name] = entry
        return report

    def collector(self) -> Collector:
        """A Prometheus collector; register it on the app's registry."""
        return EngineCollector(lambda: self.engines.values())


class EngineCollector(Collector):
    """Reads engine state at scrape time, so no gauge goes stale."""

    def __init__(self, engines: Callable[[], Iterable[ManagedEngine]]) -> None:
        self._engines = engines

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "atlas_engine_state", "1 for the engine's current state", labels=["engine", "state"]
        )
        restarts = CounterMetricFamily(
            "atlas_engine_restarts", "Restarts after a crash", labels=["engine"]
        )
        drafted = CounterMetricFamily(
            "atlas_engine_draft_tokens", "Draft tokens proposed", labels=["engine"]
        )
        accepted = CounterMetricFamily(
            "atlas_engine_draft_tokens_accepted", "Draft tokens accepted", labels=["engine"]
        )
        rate = GaugeMetricFamily(
            "atlas_engine_draft_acceptance_ratio",
            "Accepted / drafted tokens since the engine started",
            labels=["engine"],
        )
        for engine in self._engines():
            for candidate in EngineState:
                state.add_metric([engine.name, candidate.value], float(engine.state is candidate))
            restarts.add_metric([engine.name], engine.restarts)
            if engine.settings.draft_model is not None:
                telemetry = engine.telemetry
                drafted.add_metric([engine.name], telemetry.drafted)
                accepted.add_metric([engine.name], telemetry.accepted)
                if telemetry.acceptance_rate is not None:
                    rate.add_metric([engine.name], telemetry.acceptance_rate)
        yield from (state, restarts, drafted, accepted, rate)


__all__ = [
    "EngineBinaryNotFoundError",
    "EngineCollector",
    "ManagedEngines",
    "resolve_binary",
]
