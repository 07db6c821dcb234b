"""The running gateway's services, as handlers see them: set by the lifespan."""

from __future__ import annotations

from gateway.drain import Drain
from gateway.http.errors import APIError
from gateway.wiring.services import Services


class ServicesRef:
    """The services, once started, and the shutdown clock every answer runs under."""

    def __init__(self, drain: Drain | None = None) -> None:
        self._services: Services | None = None
        self.drain = drain or Drain()

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
