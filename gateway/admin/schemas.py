"""Wire schemas of the admin API: request bodies (strict: unknown fields and wrong types
are a 400) and answers (`omit_defaults`), and their conversion from accounts records.

Times are Unix seconds, as in the records. In a PATCH body an absent field is left as it
is (UNSET), while `null` clears it (a key's models or expiry)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from gateway.accounts.keys import CreatedKey, ListedKey
from gateway.accounts.schema import ApiKey, KeyLimits, Role, User
from gateway.accounts.usage_read import UsageCounts, UsageRow

Count = Annotated[int, msgspec.Meta(ge=0)]


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class LoginBody(_Body, frozen=True):
    name: str
    password: str


class RegisterBody(_Body, frozen=True):
    name: str
    password: str


class CreateUserBody(_Body, frozen=True):
    name: str
    password: str
    role: Role = "member"


class UpdateUserBody(_Body, frozen=True):
    role: Role | UnsetType = UNSET
    disabled: bool | UnsetType = UNSET
    password: str | UnsetType = UNSET
    # Required to change one's own password: a stolen session alone cannot.
    current_password: str | UnsetType = UNSET


class LimitsBody(_Body, frozen=True):
    rpm: Count | None = None
    tpm: Count | None = None
    daily_tokens: Count | None = None
    concurrency: Count | None = None
    max_k: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def to_limits(self) -> KeyLimits:
        return KeyLimits(**msgspec.structs.asdict(self))


class CreateKeyBody(_Body, frozen=True):
    name: str
    owner: str | None = None  # a user id; an admin may create keys for anyone
    expires_at: float | None = None
    models: list[str] | None = None
    limits: LimitsBody | None = None


class UpdateKeyBody(_Body, frozen=True):
    name: str | UnsetType = UNSET
    expires_at: float | UnsetType | None = UNSET
    models: list[str] | UnsetType | None = UNSET
    limits: LimitsBody | UnsetType = UNSET


class _Out(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


class UserOut(_Out, frozen=True):
    id: str
    name: str
    role: Role
    created_at: float
    password_changed_at: float
    disabled: bool = False
    disabled_at: float | None = None


class UserList(_Out, frozen=True):
    users: list[UserOut]


class SessionOut(_Out, frozen=True):
    auth: Literal["session", "master_key"]
    user: UserOut | None = None  # None for the master key, which is no user
    csrf_token: str | None = None  # send back as `x-csrf-token` on state changes
    expires_at: float | None = None


class UserChanged(_Out, frozen=True):
    user: UserOut
    # After changing one's own password: the token of the new session (and its cookie)
    # that replaces the caller's, which ended with the others.
    csrf_token: str | None = None


class KeyOut(_Out, frozen=True):
    id: str
    owner: str
    name: str
    last_four: str
    created_at: float
    expires_at: float | None = None
    models: list[str] | None = None  # None: every model
    limits: KeyLimits = msgspec.field(default_factory=KeyLimits)
    revoked: bool = False
    revoked_at: float | None = None
    suspended: bool = False
    last_used_at: float | None = None


class CreatedKeyOut(_Out, frozen=True):
    key: str  # the full key: shown this once, never stored
    record: KeyOut


class KeyList(_Out, frozen=True):
    keys: list[KeyOut]


class UsageRowOut(_Out, frozen=True):
    day: str
    key_id: str
    user_id: str | None
    model: str
    counts: UsageCountsOut


class UsageCountsOut(_Out, frozen=True):
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generated_tokens: int = 0
    verified: int = 0
    verified_rate: float | None = None
    routes: dict[str, int] = msgspec.field(default_factory=dict)
    k: dict[int, int] = msgspec.field(default_factory=dict)


class UsageOut(_Out, frozen=True):
    start: str = msgspec.field(name="from")
    end: str = msgspec.field(name="to")
    rows: list[UsageRowOut]
    totals: UsageCountsOut


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
        disabled=user.disabled,
        disabled_at=user.disabled_at,
    )


def key_out(record: ApiKey, last_used_at: float | None = None) -> KeyOut:
    return KeyOut(
        id=record.id,
        owner=record.owner,
        name=record.name,
        last_four=record.last_four,
        created_at=record.created_at,
        expires_at=record.expires_at,
        models=None if record.models is None else list(record.models),
        limits=record.limits,
        revoked=record.revoked,
        revoked_at=record.revoked_at,
        suspended=record.suspended,
        last_used_at=last_used_at,
    )


def listed_key_out(listed: ListedKey) -> KeyOut:
    return key_out(listed.record, listed.last_used_at)


def created_key_out(created: CreatedKey) -> CreatedKeyOut:
    return CreatedKeyOut(key=created.key, record=key_out(created.record))


def counts_out(counts: UsageCounts) -> UsageCountsOut:
    return UsageCountsOut(
        requests=counts.requests,
        prompt_tokens=counts.prompt_tokens,
        completion_tokens=counts.completion_tokens,
        generated_tokens=counts.generated_tokens,
        verified=counts.verified,
        verified_rate=counts.verified_rate,
        routes=counts.routes,
        k=counts.k,
    )


def usage_row_out(row: UsageRow) -> UsageRowOut:
    return UsageRowOut(
        day=row.day or "",
        key_id=row.key_id,
        user_id=row.user_id,
        model=row.model,
        counts=counts_out(row.counts),
    )


class RoutePosteriorOut(_Out, frozen=True):
    route: str
    alpha: float
    beta: float
    observations: int
    mean_tokens: float  # generated tokens per answer, 0 before any is seen


class RouterBinOut(_Out, frozen=True):
    bin: int
    routes: list[RoutePosteriorOut]


class RouterModelOut(_Out, frozen=True):
    model: str
    bins: list[RouterBinOut]


class RouterOut(_Out, frozen=True):
    models: list[RouterModelOut]
