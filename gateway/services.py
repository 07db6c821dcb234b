"""The collaborators one gateway process owns, built from settings and closed together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config import ModelSettings, Settings, UpstreamSettings
from engines.client import ClientLimits, UpstreamClient
from engines.dispatch import Dispatcher
from engines.errors import NoUpstreamConfiguredError
from engines.health import HealthChecker
from engines.install import installed_stack
from engines.managed import ManagedEngines
from engines.pool import Upstream, UpstreamPool
from engines.replay import ReplayDataset, ReplayServer
from gateway.errors import APIError
from gateway.metrics import Metrics
from gateway.usage import TokenCounter
from gateway.verification import Verifier
from sandbox import Limits, Sandbox, SandboxConfig

if TYPE_CHECKING:
    from gateway.best_of_k import Ranker
    from gateway.lens_bridge import LensBridge

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ModelGroup:
    settings: ModelSettings
    generation: UpstreamPool
    embedding: UpstreamPool

    @property
    def name(self) -> str:
        return self.settings.name

    def upstream_headers(self, request_id: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "x-request-id": request_id}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        return headers


@dataclass(slots=True)
class Services:
    settings: Settings
    http: UpstreamClient
    dispatcher: Dispatcher
    models: dict[str, ModelGroup]
    health: HealthChecker
    replays: dict[str, ReplayServer] = field(default_factory=dict)
    # llama-server processes this gateway owns ([[engines]]); empty when none.
    engines: ManagedEngines = field(default_factory=lambda: ManagedEngines(()))
    verifier: Verifier = field(default_factory=lambda: Verifier(None))
    # The Geometric Lens ([lens] enabled = true): ranker and training data.
    lens: LensBridge | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tokens: TokenCounter = field(default_factory=TokenCounter)

    def model(self, name: str) -> ModelGroup:
        if not self.models:
            raise NoUpstreamConfiguredError("no upstream configured")
        group = self.models.get(name)
        if group is None:
            raise APIError(
                404,
                f"The model {name!r} does not exist. Known models: "
                f"{', '.join(sorted(self.models))}",
                param="model",
                code="model_not_found",
            )
        return group

    async def start(self) -> None:
        await self._start_sandbox()
        if self.settings.lens.enabled:
            # Imported here: the Lens brings torch, which a gateway without it need not load.
            from gateway.lens_bridge import LensBridge

            self.lens = LensBridge(self.settings.lens, self.dispatcher)
            await self.lens.start()
        for name, server in self.replays.items():
            url = await server.start()
            for upstream in self.models[name].generation.upstreams:
                upstream.url = url
        await self.engines.start()
        self.health.start()

    async def _start_sandbox(self) -> None:
        settings = self.settings.sandbox
        if settings.backend == "disabled":
            logger.warning("sandbox disabled: best-of-k candidates will not be verified")
            return
        limits = Limits(
            wall_time_s=settings.wall_time_s,
            cpu_time_s=settings.cpu_time_s,
            memory_mb=settings.memory_mb,
            per_test_s=settings.per_test_s,
        )
        sandbox = await Sandbox.create(
            SandboxConfig(
                backend=settings.backend, max_concurrency=settings.max_concurrency, limits=limits
            )
        )
        if not sandbox.availability.available:
            logger.warning(
                "sandbox unavailable (%s): verification is skipped", sandbox.availability.reason
            )
        self.verifier = Verifier(sandbox, limits)

    def ranker(self, group: ModelGroup) -> Ranker | None:
        return self.lens.ranker(group) if self.lens is not None else None

    async def aclose(self) -> None:
        if self.lens is not None:
            await self.lens.aclose()
        await self.health.stop()
        await self.verifier.aclose()
        await self.http.aclose()
        await self.engines.aclose()
        for server in self.replays.values():
            await server.stop()


def build_services(settings: Settings, metrics: Metrics | None = None) -> Services:
    up = settings.upstream
    http = UpstreamClient(
        ClientLimits(
            connect_timeout_s=up.connect_timeout_s,
            read_timeout_s=up.read_timeout_s,
            max_connections=up.max_connections,
            keepalive_s=up.keepalive_s,
        )
    )
    metrics = metrics or Metrics()
    stack = installed_stack() if settings.engines else None
    engines = ManagedEngines(settings.engines, installed_binary=stack.binary if stack else None)
    metrics.registry.register(engines.collector())
    models = {m.name: _group(m, settings, engines) for m in settings.models}
    replays = {
        m.name: ReplayServer(ReplayDataset.load(m.dataset), model=m.name)
        for m in settings.models
        if m.engine == "replay" and m.dataset
    }
    checked = [(g.generation, g.settings.health_path) for g in models.values()]
    checked += [(g.embedding, g.settings.health_path) for g in models.values()]
    health = HealthChecker(
        http, checked, interval_s=up.health_interval_s, timeout_s=up.health_timeout_s
    )
    dispatcher = Dispatcher(
        http,
        total_timeout_s=up.total_timeout_s,
        observer=lambda model, url, outcome: metrics.upstream_requests.labels(
            model, url, outcome
        ).inc(),
        reply_observer=engines.record_reply,
    )
    return Services(
        settings=settings,
        http=http,
        dispatcher=dispatcher,
        models=models,
        health=health,
        replays=replays,
        engines=engines,
        metrics=metrics,
    )


def _group(model: ModelSettings, settings: Settings, engines: ManagedEngines) -> ModelGroup:
    def pool(entries: tuple[UpstreamSettings, ...], engine_names: tuple[str, ...]) -> UpstreamPool:
        return engines.build_pool(
            model.name,
            [Upstream(e.url, e.weight, e.max_in_flight) for e in entries],
            engine_names,
            queue_timeout_s=settings.upstream.queue_timeout_s,
            max_queue=settings.upstream.max_queue,
        )

    generation = model.generation_upstreams()
    if model.engine == "replay":
        # The replay server binds a loopback port at start; the URL is filled in then.
        generation = (UpstreamSettings(url="http://127.0.0.1:1", max_in_flight=1024),)
    return ModelGroup(
        model,
        pool(generation, model.engines),
        pool(model.embedding_upstream_settings(), model.embedding_engines),
    )
