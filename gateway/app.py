"""The litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response, Router
from litestar.exceptions import HTTPException

from config import Settings
from engines import EngineError, Resolver
from gateway.admin.pages import pages_router, static_router
from gateway.admin.pages.render import template_config
from gateway.admin.router import admin_router
from gateway.drain import Drain
from gateway.http.auth import api_key_guard
from gateway.http.errors import APIError, error_response
from gateway.http.middleware import make_observability_middleware
from gateway.http.outer import outside_routing
from gateway.http.requests import ClientDisconnectedError
from gateway.http.routes.chat import chat_handler
from gateway.http.routes.completions import completions_handler
from gateway.http.routes.embeddings import embeddings_handler
from gateway.http.routes.messages import messages_handlers
from gateway.http.routes.models import model_handlers
from gateway.http.routes.ops import ops_handlers
from gateway.http.routes.responses import responses_handlers
from gateway.http.state import ServicesRef
from gateway.strategies.errors import CallError
from gateway.telemetry.metrics import Metrics
from gateway.wiring.services import open_services
from sandbox import InvalidTestsError

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    drain: Drain | None = None,
    resolver: Resolver | None = None,
) -> Litestar:
    """The app; its services are built when the lifespan starts and closed when it ends
    (`app.state.services` while it runs). Its answers are cut when `drain` expires (the
    server that runs it begins the drain on SIGTERM: `gateway.serving.DrainingServer`).
    `resolver` looks up the DNS sources of upstreams (default: the system's)."""
    metrics = metrics or Metrics()
    ref = ServicesRef(drain or Drain(settings.server.shutdown_grace_s))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings, metrics, resolver=resolver) as services:
            if not services.models:
                logger.warning("no upstream configured: /v1 calls will answer 503 until one is set")
            ref.set(services)
            app.state.services = services
            try:
                yield
            finally:
                ref.set(None)
                app.state.services = None

    api = Router(
        path="/",
        guards=[api_key_guard(ref, settings.server.master_key)],
        route_handlers=[
            chat_handler(ref),
            *messages_handlers(ref),
            completions_handler(ref),
            embeddings_handler(ref),
            *responses_handlers(ref),
            *model_handlers(settings),
        ],
    )
    handlers: dict[Any, Any] = {
        APIError: error_response,
        EngineError: error_response,
        CallError: error_response,
        InvalidTestsError: error_response,
        HTTPException: error_response,
        ClientDisconnectedError: _client_gone,
        Exception: error_response,
    }
    app = Litestar(
        route_handlers=[
            api,
            *ops_handlers(ref, settings.server),
            admin_router(),
            pages_router(),
            static_router(),
        ],
        template_config=template_config(),
        lifespan=[lifespan],
        exception_handlers=handlers,
        middleware=[make_observability_middleware(metrics)],
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    # Before routing: HEAD is GET's route, a CORS preflight needs no route (or key).
    app.asgi_handler = outside_routing(app.asgi_handler, settings.server)
    return app


def _client_gone(_: Any, __: Exception) -> Response[bytes]:
    # Nobody reads this; 499 is what proxies log for a client that went away.
    return Response(content=b"", status_code=499)
