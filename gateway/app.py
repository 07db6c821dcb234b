"""The litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Response, Router
from litestar.exceptions import HTTPException

from config import Settings
from engines.errors import EngineError
from gateway.errors import APIError, error_response
from gateway.metrics import Metrics
from gateway.observability import make_observability_middleware
from gateway.requests import ClientDisconnectedError, master_key_guard
from gateway.routes.chat import chat_handler
from gateway.routes.completions import completions_handler
from gateway.routes.embeddings import embeddings_handler
from gateway.routes.models import model_handlers
from gateway.routes.ops import ops_handlers
from gateway.services import Services, build_services
from sandbox import InvalidTestsError

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, services: Services | None = None) -> Litestar:
    services = services or build_services(settings, Metrics())

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await services.start()
        if not services.models:
            logger.warning("no upstream configured: /v1 calls will answer 503 until one is set")
        try:
            yield
        finally:
            await services.aclose()

    api = Router(
        path="/",
        guards=[master_key_guard(settings.server.master_key)] if settings.server.master_key else [],
        route_handlers=[
            chat_handler(services),
            completions_handler(services),
            embeddings_handler(services),
            *model_handlers(services),
        ],
    )
    handlers: dict[Any, Any] = {
        APIError: error_response,
        EngineError: error_response,
        InvalidTestsError: error_response,
        HTTPException: error_response,
        ClientDisconnectedError: _client_gone,
        Exception: error_response,
    }
    app = Litestar(
        route_handlers=[api, *ops_handlers(services)],
        lifespan=[lifespan],
        exception_handlers=handlers,
        middleware=[make_observability_middleware(services.metrics)],
        request_max_body_size=settings.server.max_body_bytes,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.state.services = services
    return app


def _client_gone(_: Any, __: Exception) -> Response[bytes]:
    # Nobody reads this; 499 is what proxies log for a client that went away.
    return Response(content=b"", status_code=499)
