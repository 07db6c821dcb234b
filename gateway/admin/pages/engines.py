"""Engines at a glance: every model's upstreams (health, slots busy), every managed
llama-server (state, restarts, speed, speculative acceptance with the zero-acceptance
alarm, its last log lines), the sandbox per language and the Redis store. Only what the
gateway knows: a number it has not seen is shown as "not reported"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.response import Template

from engines.pool import UpstreamPool
from gateway.admin.auth import services_of
from gateway.admin.pages.render import page
from gateway.http.routes.ops import readiness
from gateway.wiring.services import Services

LOG_LINES = 12
ADMIN = {"admin": True}


@dataclass(frozen=True, slots=True)
class UpstreamRow:
    model: str
    role: str
    label: str
    healthy: bool | None
    busy: int
    slots: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EngineRow:
    name: str
    role: str
    model: str
    state: str
    url: str | None
    pid: int | None
    restarts: int
    last_error: str | None
    tokens_per_second: float | None
    draft_model: str | None
    acceptance_rate: float | None
    window_acceptance_rate: float | None
    zero_acceptance: bool
    requests: int
    logs: list[str]


@get("/engines", opt=ADMIN)
async def engines_page(request: Request[Any, Any, Any]) -> Template:
    services = services_of(request)
    ready = readiness(services)
    context = {
        "ready": ready["ready"],
        "reason": ready["reason"],
        "upstreams": upstream_rows(services),
        "engines": engine_rows(services),
        "sandbox": ready["sandbox"],
        "store": await services.store.status(),
    }
    return page(request, "engines.html", context, nav="engines")


def upstream_rows(services: Services) -> list[UpstreamRow]:
    rows = []
    for name, group in sorted(services.models.items()):
        pools: tuple[UpstreamPool, ...] = (group.generation, group.embedding)
        for pool in pools:
            for upstream in pool.upstreams:
                rows.append(
                    UpstreamRow(
                        model=name,
                        role=pool.role,
                        label=upstream.label,
                        healthy=upstream.healthy,
                        busy=upstream.in_flight,
                        slots=upstream.max_in_flight,
                        last_error=upstream.last_error,
                    )
                )
    return rows


def engine_rows(services: Services) -> list[EngineRow]:
    rows = []
    for name, engine in sorted(services.engines.engines.items()):
        telemetry = engine.telemetry
        rows.append(
            EngineRow(
                name=name,
                role=engine.settings.role,
                model=engine.settings.model,
                state=str(engine.state),
                url=engine.url,
                pid=engine.pid,
                restarts=engine.restarts,
                last_error=engine.last_error,
                tokens_per_second=telemetry.tokens_per_second,
                draft_model=engine.settings.draft_model,
                acceptance_rate=telemetry.acceptance_rate,
                window_acceptance_rate=telemetry.window_acceptance_rate,
                zero_acceptance=telemetry.zero_acceptance,
                requests=telemetry.requests,
                logs=engine.last_logs(LOG_LINES),
            )
        )
    return rows


HANDLERS = [engines_page]
