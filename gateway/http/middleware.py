"""Request ids on every response and log line, and per-request metrics.

A plain ASGI middleware: it sees the final status of every response, streams
included, without litestar's per-route middleware machinery on the hot path.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.telemetry.metrics import Metrics
from gateway.telemetry.request_ids import request_id_var

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
KNOWN_ENDPOINTS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/health",
        "/ready",
        "/metrics",
        "/",
    }
)
# The OpenAI paths without their /v1 (clients configured with a base URL that lacks
# it): the same routes, counted under the /v1 labels.
UNPREFIXED = frozenset({"/chat/completions", "/completions", "/embeddings", "/models"})
MODEL_SCOPE_KEY = "atlas.model"


def endpoint_label(path: str) -> str:
    if path in KNOWN_ENDPOINTS:
        return path
    if path in UNPREFIXED:
        return "/v1" + path
    if path.startswith(("/v1/models/", "/models/")):
        return "/v1/models/{id}"
    return "other"


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _VALID_ID.match(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


def make_observability_middleware(metrics: Metrics) -> Any:
    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            request_id = incoming_request_id(scope)
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            status = 500
            header = (b"x-request-id", request_id.encode("ascii"))

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            metrics.in_flight.inc()
            try:
                await app(scope, receive, send_with_id)
            finally:
                metrics.in_flight.dec()
                endpoint = endpoint_label(scope["path"])
                model = scope.get(MODEL_SCOPE_KEY, "")
                metrics.requests.labels(endpoint, model, str(status)).inc()
                metrics.latency.labels(endpoint, model).observe(time.perf_counter() - started)
                request_id_var.reset(token)

        return wrapped

    return middleware
