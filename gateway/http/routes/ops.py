"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get

from gateway.http.state import ServicesRef
from gateway.wiring.services import Services

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def ops_handlers(ref: ServicesRef) -> list[Any]:
    @get("/health")
    async def health() -> Response[bytes]:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    @get("/ready")
    async def ready() -> Response[bytes]:
        services = ref.get()
        models = {
            name: {
                "healthy_upstreams": group.generation.healthy_count(),
                "upstreams": len(group.generation.upstreams),
                "healthy_embedding_upstreams": group.embedding.healthy_count(),
            }
            for name, group in services.models.items()
        }
        ok = bool(models) and all(m["healthy_upstreams"] > 0 for m in models.values())
        reason = None if models else "no upstream configured"
        availability = services.verifier.availability()
        body = {
            "ready": ok,
            "reason": reason,
            "models": models,
            "engines": services.engines.status(),
            "sandbox": availability,
        }
        return Response(
            content=msgspec.json.encode(body),
            media_type="application/json",
            status_code=200 if ok else 503,
        )

    @get("/metrics")
    async def metrics() -> Response[bytes]:
        services = ref.get()
        _refresh_upstream_gauges(services)
        return Response(content=services.metrics.render(), media_type=PROMETHEUS_TYPE)

    return [health, ready, metrics]


def _refresh_upstream_gauges(services: Services) -> None:
    for name, group in services.models.items():
        for pool in (group.generation, group.embedding):
            for upstream in pool.upstreams:
                labels = (name, upstream.label, pool.role)
                services.metrics.upstream_healthy.labels(*labels).set(1 if upstream.healthy else 0)
                services.metrics.upstream_in_flight.labels(*labels).set(upstream.in_flight)
