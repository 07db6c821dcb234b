"""Domain errors of the accounts. They know nothing of HTTP: the edge maps them.

Suggested mapping: NotFoundError 404, UserExistsError/AdminExistsError 409,
WeakPasswordError/InvalidNameError 400, InvalidCredentialsError 401, LoginThrottledError
429 with Retry-After, ForbiddenError 403, RegistrationClosedError 403, SchemaError and
SecretError stop start-up. Key and session failures are not raised: they come back as
reasons (`keys.KeyRejected`, `sessions.SessionRejected`), all answered 401.
"""

from __future__ import annotations

from gateway.accounts.schema import ThrottleScope


class AccountsError(Exception):
    """Base of every error the accounts raise."""


class SchemaError(AccountsError):
    """The data in Redis has a layout this code cannot use (newer, or no migration)."""


class SecretError(AccountsError):
    """A server secret is missing where one is required, or too short."""


class NotFoundError(AccountsError):
    """No such object, or one the caller may not see: the two are never told apart."""


class UserExistsError(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} already exists")
        self.name = name


class AdminExistsError(AccountsError):
    def __init__(self) -> None:
        super().__init__("an admin already exists")


class InvalidNameError(AccountsError):
    pass


class WeakPasswordError(AccountsError):
    pass


class InvalidCredentialsError(AccountsError):
    """Wrong name or password (or a disabled account): one answer for all."""

    def __init__(self) -> None:
        super().__init__("invalid user name or password")


class LoginThrottledError(AccountsError):
    def __init__(self, scope: ThrottleScope, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins for this {scope}; retry in {retry_after_s} s")
        self.scope = scope
        self.retry_after_s = retry_after_s


class ForbiddenError(AccountsError):
    """The caller may see the object but not do this to it (a member changing limits)."""


class RegistrationClosedError(AccountsError):
    def __init__(self) -> None:
        super().__init__("registration is closed")
