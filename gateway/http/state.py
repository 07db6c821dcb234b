"""The running gateway's services, as handlers see them: set by the lifespan."""

from __future__ import annotations

from gateway.wiring.services import Services


class ServicesRef:
    def __init__(self) -> None:
        self._services: Services | None = None

    def set(self, services: Services | None) -> None:
        self._services = services

    def get(self) -> Services:
        if self._services is None:
            raise RuntimeError("the gateway's services are not started (lifespan not run)")
        return self._services
