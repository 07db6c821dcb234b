"""What `atlas users list` and `atlas keys list` print: a table for people, JSON for scripts.

Neither ever shows a secret: a key appears by its id and last four characters, a user
without their password hash.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gateway.accounts.keys import ListedKey
from gateway.accounts.schema import ApiKey, KeyLimits, User

NONE = "-"


def users_table(users: Sequence[User]) -> str:
    rows = [
        [u.name, u.role, u.id, _when(u.created_at), "disabled" if u.disabled else "enabled"]
        for u in users
    ]
    return table(["NAME", "ROLE", "ID", "CREATED", "STATE"], rows)


def users_json(users: Sequence[User]) -> str:
    return _json(
        [
            {
                "id": u.id,
                "name": u.name,
                "role": u.role,
                "created_at": u.created_at,
                "disabled": u.disabled,
            }
            for u in users
        ]
    )


def keys_table(keys: Sequence[ListedKey], names: Mapping[str, str], now: float) -> str:
    header = ["ID", "OWNER", "NAME", "KEY", "CREATED", "LAST USED", "EXPIRES", "STATE"]
    header += ["LIMITS", "MODELS"]
    rows = [
        [
            k.record.id,
            names.get(k.record.owner, k.record.owner),
            k.record.name,
            f"...{k.record.last_four}",
            _when(k.record.created_at),
            _when(k.last_used_at),
            _when(k.record.expires_at),
            key_state(k.record, now),
            limits_text(k.record.limits),
            models_text(k.record.models),
        ]
        for k in keys
    ]
    return table(header, rows)


def keys_json(keys: Sequence[ListedKey], names: Mapping[str, str], now: float) -> str:
    return _json([_key_entry(k, names, now) for k in keys])


def _key_entry(key: ListedKey, names: Mapping[str, str], now: float) -> dict[str, Any]:
    r = key.record
    return {
        "id": r.id,
        "owner": r.owner,
        "owner_name": names.get(r.owner),
        "name": r.name,
        "last_four": r.last_four,
        "created_at": r.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": r.expires_at,
        "state": key_state(r, now),
        "revoked": r.revoked,
        "suspended": r.suspended,
        "models": None if r.models is None else list(r.models),
        "limits": msgspec.to_builtins(r.limits),  # only the limits that are set
    }


def key_state(record: ApiKey, now: float) -> str:
    if record.revoked:
        return "revoked"
    if record.suspended:
        return "suspended"  # its owner is disabled
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


def limits_text(limits: KeyLimits) -> str:
    given: dict[str, int] = msgspec.to_builtins(limits)
    return " ".join(f"{name}={value}" for name, value in given.items()) or NONE


def models_text(models: tuple[str, ...] | None) -> str:
    if models is None:
        return "all"
    return ",".join(models) or "none"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the header alone when there are no rows."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _when(t: float | None) -> str:
    return NONE if t is None else time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(t))


def _json(data: object) -> str:
    return msgspec.json.format(msgspec.json.encode(data)).decode() + "\n"
