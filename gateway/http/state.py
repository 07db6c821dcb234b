"""The running gateway's services, as handlers see them: set by the lifespan."""

from __future__ import annotations

from gateway.http.errors import APIError
from gateway.wiring.services import Services


class ServicesRef:
    def __init__(self) -> None:
        self._services: Services | None = None

    def set(self, services: Services | None) -> None:
        self._services = services

    def get(self) -> Services:
        if self._services is None:
            # Before the lifespan started them or after it closed them.
            raise APIError(
                503,
                "the gateway is starting or shutting down; retry shortly",
                type="server_error",
                code="not_ready",
                headers={"retry-after": "1"},
            )
        return self._services
