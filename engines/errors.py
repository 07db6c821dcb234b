"""Domain errors raised by upstream clients; they know nothing of HTTP status."""

from __future__ import annotations


class EngineError(Exception):
    """Base class for failures on the way to or from an upstream."""

    def __init__(self, message: str, *, upstream: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream = upstream


class NoUpstreamConfiguredError(EngineError):
    """The gateway has no model groups at all."""


class UpstreamUnavailableError(EngineError):
    """No healthy upstream could take the request, or connecting failed."""


class UpstreamTimeoutError(EngineError):
    """An upstream accepted the request but did not answer in time."""


class UpstreamStalledError(UpstreamTimeoutError):
    """An upstream sent not a single byte of its answer in time: the request can move to
    another upstream, since nothing of the answer exists yet."""


class UpstreamProtocolError(EngineError):
    """An upstream answered with a 5xx or with something that is not the API."""

    def __init__(self, message: str, *, upstream: str | None = None, status: int = 502) -> None:
        super().__init__(message, upstream=upstream)
        self.status = status


class UpstreamRejectedError(EngineError):
    """An upstream refused the request with a 4xx; its body goes back to the client."""

    def __init__(
        self,
        message: str,
        *,
        upstream: str | None,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, upstream=upstream)
        self.status = status
        self.body = body
        self.headers = headers or {}


class CapacityExceededError(EngineError):
    """Every upstream of the model is at its in-flight limit and the queue is full."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueFullError(CapacityExceededError):
    """The model's wait queue, or one key's share of it, is full: refused before waiting."""
