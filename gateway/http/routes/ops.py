"""Liveness, readiness and Prometheus metrics: what each tells, and to whom.

/ and /health answer anyone (`HEAD /` too: Claude Code checks it, without a key, before
each run), and say only that the process serves. /ready answers anyone
with its status (200 or 503) and `{"ready": bool}`; the details (models, upstreams and
what DNS sources resolved to, engines with their URLs and logs, the sandbox, the Redis
store: embedded, guest or external, and whether it answers) need the master key. The
store does not decide readiness yet: nothing on the request path needs it. /metrics
needs the master key or server.metrics_token. With neither configured (a loopback gateway, or
allow_unauthenticated), everything is open, like the API itself."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Request, Response, get

from config import ServerSettings
from gateway.accounts.limits import REDIS_FAILURES
from gateway.http.errors import APIError
from gateway.http.requests import bearer_tokens, presents_one_of
from gateway.http.state import ServicesRef
from gateway.telemetry.metrics import upstream_label
from gateway.wiring.services import Services

logger = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ROOT_BODY = b'{"status":"ok","service":"atlas","api":"/v1"}'


def ops_handlers(ref: ServicesRef, server: ServerSettings) -> list[Any]:
    detail_keys = bearer_tokens(server.master_key)
    metrics_keys = bearer_tokens(server.master_key, server.metrics_token)

    @get("/health")
    async def health() -> Response[bytes]:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    # Clients probe the root before they start (Claude Code: `HEAD /`, without a key).
    @get("/")
    async def root() -> Response[bytes]:
        return Response(content=ROOT_BODY, media_type="application/json")

    @get("/ready")
    async def ready(request: Request[Any, Any, Any]) -> Response[bytes]:
        services = ref.get()
        body = readiness(services)
        if presents_one_of(request, detail_keys):
            body["store"] = await services.store.status()  # a PING: only for key holders
        else:
            body = {"ready": body["ready"]}
        return Response(
            content=msgspec.json.encode(body),
            media_type="application/json",
            status_code=200 if body["ready"] else 503,
        )

    @get("/metrics")
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if not presents_one_of(request, metrics_keys):
            raise APIError(
                401,
                "/metrics needs 'Authorization: Bearer <key>' with the master key or "
                "server.metrics_token",
                code="invalid_api_key",
            )
        services = ref.get()
        _refresh_upstream_gauges(services)
        await _refresh_usage(services)
        await _refresh_posteriors(services)
        return Response(content=services.metrics.render(), media_type=PROMETHEUS_TYPE)

    return [health, root, ready, metrics]


def readiness(services: Services) -> dict[str, Any]:
    """Ready when every model can answer: a healthy generation upstream, or for a model
    that only embeds, a healthy embedding upstream. A model with DNS sources lists them
    (`discovered`: what each resolved to, why its last lookup failed)."""
    discovered: dict[str, list[dict[str, Any]]] = {}
    for source in services.discovery.status():
        discovered.setdefault(source.pop("model"), []).append(source)
    models: dict[str, dict[str, Any]] = {}
    for name, group in services.models.items():
        models[name] = {
            "healthy_upstreams": group.generation.healthy_count(),
            "upstreams": len(group.generation.upstreams),
            "healthy_embedding_upstreams": group.embedding.healthy_count(),
            "embedding_upstreams": len(group.embedding.upstreams),
        }
        if name in discovered:
            models[name]["discovered"] = discovered[name]
    down = [name for name, m in models.items() if not _can_answer(m)]
    sandbox = services.verifier.availability()
    unverified = services.settings.sandbox.required and not sandbox["available"]
    reason = _not_ready_reason(models, down, discovered)
    if unverified:
        reason = "; ".join(filter(None, [reason, f"sandbox unavailable: {sandbox['reason']}"]))
    return {
        "ready": bool(models) and not down and not unverified,
        "reason": reason,
        "models": models,
        "engines": services.engines.status(),
        "sandbox": sandbox,
    }


def _can_answer(model: dict[str, Any]) -> bool:
    if model["upstreams"]:
        return bool(model["healthy_upstreams"])
    return bool(model["healthy_embedding_upstreams"])


def _not_ready_reason(
    models: dict[str, Any], down: list[str], discovered: dict[str, list[dict[str, Any]]]
) -> str | None:
    """Why not ready, where a DNS source tells: its lookup failed or found nothing."""
    if not models:
        return "no upstream configured"
    failed = [
        f"model {name!r} ({source['role']}): {source['source']} {source['error']}"
        for name in down
        for source in discovered.get(name, ())
        if source["error"] and not source["upstreams"]
    ]
    return "; ".join(failed) or None


async def _refresh_usage(services: Services) -> None:
    # The usage totals come from Redis; without it /metrics still shows the rest.
    try:
        async with asyncio.timeout(services.settings.accounts.limits.timeout_s):
            await services.accounts.usage_totals.refresh()
    except REDIS_FAILURES as exc:  # TimeoutError is an OSError
        logger.warning("usage totals not refreshed for /metrics: %s", exc)


async def _refresh_posteriors(services: Services) -> None:
    # The router's posteriors as every replica has taught them (one pipelined read).
    try:
        async with asyncio.timeout(services.settings.accounts.limits.timeout_s):
            await services.route_stats.snapshot(services.routed_models())
    except REDIS_FAILURES as exc:
        logger.warning("router posteriors not refreshed for /metrics: %s", exc)


def _refresh_upstream_gauges(services: Services) -> None:
    # Set whole at each scrape: an upstream that left (DNS) leaves no stale series.
    services.metrics.upstream_healthy.clear()
    services.metrics.upstream_in_flight.clear()
    for name, group in services.models.items():
        for pool in (group.generation, group.embedding):
            for upstream in pool.upstreams:
                labels = (name, upstream_label(upstream.label), pool.role)
                services.metrics.upstream_healthy.labels(*labels).set(1 if upstream.healthy else 0)
                services.metrics.upstream_in_flight.labels(*labels).set(upstream.in_flight)
