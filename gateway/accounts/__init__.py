"""Accounts: users, API keys, admin sessions, limits and usage, stored in Redis.

Plain Python over `redis.asyncio` (no litestar): the HTTP edge and the admin API call it.
Every Redis key name and value shape is in `schema.py`. Start with `open_accounts`.
"""

from gateway.accounts.access import KeyAccess, Principal, may_see, principal_of, visible_user
from gateway.accounts.errors import (
    AccountsError,
    AdminExistsError,
    ForbiddenError,
    InvalidCredentialsError,
    InvalidNameError,
    LoginThrottledError,
    NotFoundError,
    RegistrationClosedError,
    SchemaError,
    SecretError,
    UserExistsError,
    WeakPasswordError,
)
from gateway.accounts.key_cache import KeyCache
from gateway.accounts.keys import KEEP, ApiKeys, CreatedKey, KeyRejected, ListedKey
from gateway.accounts.limits import (
    Charge,
    Decision,
    Lease,
    Limiter,
    LimitsUnavailableError,
    RateLimitedError,
    Window,
    cap_k,
)
from gateway.accounts.limits_headers import format_reset, rate_limit_headers
from gateway.accounts.logins import Logins
from gateway.accounts.passwords import Passwords, check_password, read_password_file
from gateway.accounts.schema import ApiKey, KeyLimits, Role, User
from gateway.accounts.service import Accounts, open_accounts
from gateway.accounts.sessions import (
    IssuedSession,
    SessionClaims,
    SessionRejected,
    Sessions,
    csrf_matches,
)
from gateway.accounts.store import ensure_schema
from gateway.accounts.throttle import LoginThrottle
from gateway.accounts.usage import UsageEvent, UsageRecorder
from gateway.accounts.usage_metrics import UsageCollector
from gateway.accounts.usage_read import UsageCounts, UsageReader, UsageRow, sum_counts
from gateway.accounts.users import Users, normalize_name

__all__ = [
    "KEEP",
    "Accounts",
    "AccountsError",
    "AdminExistsError",
    "ApiKey",
    "ApiKeys",
    "Charge",
    "CreatedKey",
    "Decision",
    "ForbiddenError",
    "InvalidCredentialsError",
    "InvalidNameError",
    "IssuedSession",
    "KeyAccess",
    "KeyCache",
    "KeyLimits",
    "KeyRejected",
    "Lease",
    "Limiter",
    "LimitsUnavailableError",
    "ListedKey",
    "LoginThrottle",
    "LoginThrottledError",
    "Logins",
    "NotFoundError",
    "Passwords",
    "Principal",
    "RateLimitedError",
    "RegistrationClosedError",
    "Role",
    "SchemaError",
    "SecretError",
    "SessionClaims",
    "SessionRejected",
    "Sessions",
    "UsageCollector",
    "UsageCounts",
    "UsageEvent",
    "UsageReader",
    "UsageRecorder",
    "UsageRow",
    "User",
    "UserExistsError",
    "Users",
    "WeakPasswordError",
    "Window",
    "cap_k",
    "check_password",
    "csrf_matches",
    "ensure_schema",
    "format_reset",
    "may_see",
    "normalize_name",
    "open_accounts",
    "principal_of",
    "rate_limit_headers",
    "read_password_file",
    "sum_counts",
    "visible_user",
]
