"""Domain errors of the sandbox; they know nothing of HTTP."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of every error the sandbox raises."""


class SandboxUnavailableError(SandboxError):
    """The sandbox cannot run code here (no namespaces, disabled, missing toolchain)."""


class UnsupportedLanguageError(SandboxError):
    """The language is unknown or its toolchain is missing."""


class InvalidTestsError(SandboxError, ValueError):
    """Request-supplied tests are malformed; the message names the offending item."""
