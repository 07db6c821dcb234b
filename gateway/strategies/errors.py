"""Errors strategies raise about the call itself; the edge maps them to 4xx answers."""

from __future__ import annotations


class CallError(Exception):
    """The request cannot be served as asked. `param` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidCallError(CallError):
    """A field has a value the gateway cannot honour (400)."""


class UnknownModelError(CallError):
    """No model of that name is served (404)."""
