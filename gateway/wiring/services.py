"""The composition root: the only module that knows every package. It builds the
collaborators of one gateway process whole, inside the app's lifespan, and closes
whatever it opened, in reverse order, even when a later step fails. Shared state goes through
the one Redis client of `Services.store` (`redis_store.py`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config import (
    ModelSettings,
    PatternCacheSettings,
    RouterSettings,
    SandboxSettings,
    Settings,
    UpstreamSettings,
    best_of_k_settings,
)
from engines import (
    ClientLimits,
    Discovery,
    Dispatcher,
    HealthChecker,
    ManagedEngines,
    NoUpstreamConfiguredError,
    ReplayDataset,
    ReplayServer,
    Resolver,
    SystemResolver,
    Upstream,
    UpstreamClient,
    UpstreamPool,
    dns_sources,
    installed_stack,
)
from gateway.accounts.limits import Limiter
from gateway.accounts.service import Accounts, open_accounts
from gateway.accounts.usage import UsageRecorder
from gateway.accounts.usage_metrics import UsageCollector
from gateway.accounts.usage_read import UsageReader
from gateway.heap_trim import heap_trimming
from gateway.strategies.best_of_k.strategy import BestOfKTools
from gateway.strategies.best_of_k.verification import SandboxVerifier
from gateway.strategies.choose import Strategies
from gateway.strategies.errors import UnknownModelError
from gateway.strategies.model import ModelGroup
from gateway.strategies.passthrough import PassThrough
from gateway.strategies.router.patterns import Embedder
from gateway.strategies.router.strategy import RouterTools
from gateway.strategies.tokens import TokenCounter
from gateway.telemetry.metrics import Metrics, upstream_label
from gateway.wiring.embeddings import UpstreamEmbedder
from gateway.wiring.feedback import GatewayFeedback
from gateway.wiring.first_admin import create_configured_admin
from gateway.wiring.pattern_store import RedisPatternStore
from gateway.wiring.redis_store import Store, open_store
from gateway.wiring.route_stats import RedisRouteStats
from gateway.wiring.trace_store import TraceStore
from sandbox import Sandbox

if TYPE_CHECKING:  # the Lens brings torch, which a gateway without it need not load
    from gateway.wiring.lens_bridge import LensBridge

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountServices:
    """What the edge and the admin API use of the accounts."""

    directory: Accounts  # users, keys, sessions, logins
    limiter: Limiter
    usage: UsageRecorder
    # Usage totals on /metrics: registered, read from Redis by `await refresh()`.
    usage_totals: UsageCollector


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    dispatcher: Dispatcher
    models: dict[str, ModelGroup]
    # llama-server processes this gateway owns ([[engines]]); empty when none.
    engines: ManagedEngines
    # Upstreams found in DNS (dns+http://host:port entries), kept in step with it.
    discovery: Discovery
    replays: dict[str, ReplayServer]
    # The Redis store ([redis]): the process's one client, for accounts and the Lens.
    store: Store
    # Users, API keys, admin sessions, limits and usage ([accounts]), in the store.
    accounts: AccountServices
    verifier: SandboxVerifier
    # The Geometric Lens ([lens] enabled = true): ranker and training data.
    lens: LensBridge | None
    strategies: Strategies
    feedback: GatewayFeedback
    # The last answers of every replica (Redis, written off the request path), for the
    # admin UI's traces page.
    traces: TraceStore
    # The router's bandit counts (Redis), for the admin API and /metrics.
    route_stats: RedisRouteStats

    def routed_models(self) -> list[tuple[str, int]]:
        """(name, difficulty bins) of each model whose strategy is the router."""
        return [
            (m.name, m.strategy.bins)
            for m in self.settings.models
            if isinstance(m.strategy, RouterSettings)
        ]

    def model(self, name: str, allowed: Collection[str] | None = None) -> ModelGroup:
        """The model `name`; with `allowed` (an API key's allow-list), a model outside it
        is unknown, and only allowed models are named: a key learns of no others."""
        if not self.models:
            raise NoUpstreamConfiguredError("no upstream configured")
        group = self.models.get(name)
        if group is None or (allowed is not None and name not in allowed):
            known = sorted(m for m in self.models if allowed is None or m in allowed)
            raise UnknownModelError(
                f"The model {name!r} does not exist. Known models: {', '.join(known)}",
                param="model",
                code="model_not_found",
            )
        return group


@asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics, *, resolver: Resolver | None = None
) -> AsyncIterator[Services]:
    """`resolver` looks up DNS sources of upstreams (default: the system's)."""
    async with AsyncExitStack() as stack:
        http = _http_client(settings)
        stack.push_async_callback(http.aclose)
        replays = {
            m.name: await _start_replay(stack, m.name, m.dataset)
            for m in settings.models
            if m.engine == "replay" and m.dataset
        }
        engines = await asyncio.to_thread(_managed_engines, settings)  # reads files
        collector = engines.collector()
        metrics.registry.register(collector)
        stack.callback(metrics.registry.unregister, collector)
        # Stopped after the Lens and the sandbox close: their last calls may need an engine.
        stack.push_async_callback(engines.aclose)
        # Closed after the Lens, whose last writes go to it, and before the engines stop.
        store = await stack.enter_async_context(open_store(settings.redis, role="gateway"))
        accounts = await stack.enter_async_context(
            open_accounts(store.redis, store.prefix, settings.accounts)
        )
        await create_configured_admin(accounts, settings.accounts)  # ATLAS_ADMIN_PASSWORD_FILE
        # Started here: a limiter that is not running loses long requests' leases.
        limiter = await stack.enter_async_context(
            Limiter(store.redis, prefix=store.prefix, settings=settings.accounts.limits)
        )
        usage = await stack.enter_async_context(
            UsageRecorder(store.redis, prefix=store.prefix, settings=settings.accounts.usage)
        )
        traces = await stack.enter_async_context(
            TraceStore(store.redis, store.prefix, on_drop=metrics.traces_dropped.inc)
        )
        usage_totals = UsageCollector(UsageReader(store.redis, prefix=store.prefix))
        metrics.registry.register(usage_totals)
        stack.callback(metrics.registry.unregister, usage_totals)
        models = {m.name: _group(m, settings, engines, replays) for m in settings.models}
        dispatcher = _dispatcher(settings, http, metrics, engines)
        verifier = await _open_verifier(stack, settings.sandbox)
        lens = await _open_lens(stack, settings, dispatcher, store)
        await engines.start()
        health = _health_checker(settings, http, models)
        discovery = _discovery(settings, models, replays, health, resolver or SystemResolver())
        # The first lookups, and checks of what they found: a failure leaves that source's
        # upstreams out (/ready says why) until a later lookup answers.
        await discovery.refresh()
        health.start()
        stack.push_async_callback(health.stop)
        discovery.start()
        stack.push_async_callback(discovery.stop)
        await stack.enter_async_context(heap_trimming(settings.server.heap_trim_interval_s))
        yield _assemble(
            settings,
            metrics,
            dispatcher,
            models,
            (engines, discovery),
            store,
            AccountServices(accounts, limiter, usage, usage_totals),
            verifier,
            lens,
            replays,
            traces,
        )


def _assemble(
    settings: Settings,
    metrics: Metrics,
    dispatcher: Dispatcher,
    models: dict[str, ModelGroup],
    upstream_sources: tuple[ManagedEngines, Discovery],
    store: Store,
    accounts: AccountServices,
    verifier: SandboxVerifier,
    lens: LensBridge | None,
    replays: dict[str, ReplayServer],
    traces: TraceStore,
) -> Services:
    engines, discovery = upstream_sources
    tokens = TokenCounter()
    keepalive_s = settings.server.keepalive_interval_s
    pass_through = PassThrough(dispatcher, tokens, keepalive_s=keepalive_s)
    best_of_k = BestOfKTools(
        dispatcher=dispatcher,
        verifier=verifier,
        tokens=tokens,
        ranker_for=lens.ranker if lens is not None else lambda _: None,
        keepalive_s=keepalive_s,
    )
    route_stats = RedisRouteStats(store.redis, store.prefix, metrics.router)
    router = RouterTools(
        pass_through=pass_through,
        best_of_k=best_of_k,
        stats=route_stats,
        cache=RedisPatternStore(
            store.redis, store.prefix, _cache_settings(settings), metrics.router
        ),
        metrics=metrics.router,
        embedder_for=lens.router_embedder if lens is not None else _router_embedder(dispatcher),
        predictor_for=lens.predictor if lens is not None else lambda _: None,
    )
    strategies = Strategies(pass_through=pass_through, best_of_k=best_of_k, router=router)
    return Services(
        settings=settings,
        metrics=metrics,
        dispatcher=dispatcher,
        models=models,
        engines=engines,
        discovery=discovery,
        replays=replays,
        store=store,
        accounts=accounts,
        verifier=verifier,
        lens=lens,
        strategies=strategies,
        feedback=GatewayFeedback(metrics, lens, accounts.usage, traces),
        traces=traces,
        route_stats=route_stats,
    )


def _router_embedder(dispatcher: Dispatcher) -> Callable[[ModelGroup], Embedder | None]:
    """Without the Lens: the model's embedding upstream, uncached (no Lens cache to ask)."""
    return lambda g: UpstreamEmbedder(dispatcher, g, "router") if g.embedding.upstreams else None


def _cache_settings(settings: Settings) -> dict[str, PatternCacheSettings]:
    return {
        m.name: m.strategy.cache for m in settings.models if isinstance(m.strategy, RouterSettings)
    }


def _http_client(settings: Settings) -> UpstreamClient:
    up = settings.upstream
    return UpstreamClient(
        ClientLimits(
            connect_timeout_s=up.connect_timeout_s,
            read_timeout_s=up.read_timeout_s,
            stream_first_byte_timeout_s=up.stream_first_byte_timeout_s,
            stream_idle_timeout_s=up.stream_idle_timeout_s,
            max_connections=up.max_connections,
            keepalive_s=up.keepalive_s,
        )
    )


def _managed_engines(settings: Settings) -> ManagedEngines:
    installed = installed_stack() if settings.engines else None
    return ManagedEngines(
        settings.engines, installed_binary=installed.binary if installed else None
    )


async def _start_replay(stack: AsyncExitStack, name: str, dataset: str) -> ReplayServer:
    records = await asyncio.to_thread(ReplayDataset.load, dataset)  # parses the whole file
    server = ReplayServer(records, model=name)
    await server.start()
    stack.push_async_callback(server.stop)
    return server


def _dispatcher(
    settings: Settings, http: UpstreamClient, metrics: Metrics, engines: ManagedEngines
) -> Dispatcher:
    return Dispatcher(
        http,
        total_timeout_s=settings.upstream.total_timeout_s,
        headers_timeout_s=settings.upstream.stream_headers_timeout_s,
        observer=lambda model, label, role, outcome: metrics.upstream_requests.labels(
            model, upstream_label(label), role, outcome
        ).inc(),
        reply_observer=engines.record_reply,
    )


async def _open_verifier(stack: AsyncExitStack, settings: SandboxSettings) -> SandboxVerifier:
    if settings.backend == "disabled":
        logger.warning("sandbox disabled: best-of-k candidates will not be verified")
        return SandboxVerifier(None)
    sandbox = await Sandbox.create(settings)
    stack.push_async_callback(sandbox.close)
    if not sandbox.availability.available:
        logger.warning(
            "sandbox unavailable (%s): verification is skipped", sandbox.availability.reason
        )
    return SandboxVerifier(sandbox, settings.limits)


async def _open_lens(
    stack: AsyncExitStack, settings: Settings, dispatcher: Dispatcher, store: Store
) -> LensBridge | None:
    if not settings.lens.enabled:
        return None
    from gateway.wiring.lens_bridge import LensBridge

    lens = LensBridge(settings.lens, dispatcher, store.redis)
    stack.push_async_callback(lens.aclose)
    await lens.start()
    return lens


def _health_checker(
    settings: Settings, http: UpstreamClient, models: dict[str, ModelGroup]
) -> HealthChecker:
    checked = [(g.generation, g.settings.health_path) for g in models.values()]
    checked += [(g.embedding, g.settings.health_path) for g in models.values()]
    up = settings.upstream
    return HealthChecker(
        http, checked, interval_s=up.health_interval_s, timeout_s=up.health_timeout_s
    )


def _discovery(
    settings: Settings,
    models: dict[str, ModelGroup],
    replays: dict[str, ReplayServer],
    health: HealthChecker,
    resolver: Resolver,
) -> Discovery:
    pools: list[tuple[UpstreamPool, tuple[UpstreamSettings, ...]]] = []
    for group in models.values():
        if group.name not in replays:
            pools.append((group.generation, group.settings.generation_upstreams()))
        pools.append((group.embedding, group.settings.embedding_upstream_settings()))
    up = settings.upstream
    return Discovery(
        resolver,
        dns_sources(pools),
        admit=health.admit,
        interval_s=up.discovery_interval_s,
        timeout_s=up.discovery_timeout_s,
    )


def _group(
    model: ModelSettings,
    settings: Settings,
    engines: ManagedEngines,
    replays: dict[str, ReplayServer],
) -> ModelGroup:
    def pool(
        entries: tuple[UpstreamSettings, ...], engine_names: tuple[str, ...], role: str
    ) -> UpstreamPool:
        return engines.build_pool(
            model.name,
            # DNS sources add theirs later (_discovery).
            [Upstream(e.url, e.weight, e.max_in_flight) for e in entries if not e.discovered],
            engine_names,
            role=role,
            queue_timeout_s=settings.upstream.queue_timeout_s,
            max_queue=settings.upstream.max_queue,
            max_queue_per_key=settings.upstream.max_queue_per_key,
            # A search's own requests wait as long as one upstream answer may take.
            internal_queue_timeout_s=settings.upstream.total_timeout_s,
        )

    generation = model.generation_upstreams()
    if model.name in replays:
        # The replay server was started first, so its loopback URL is known here.
        generation = (UpstreamSettings(url=replays[model.name].url, max_in_flight=1024),)
    return ModelGroup(
        model,
        pool(generation, model.engines, "generation"),
        pool(model.embedding_upstream_settings(), model.embedding_engines, "embedding"),
        best_of_k_settings(model.strategy),
    )
