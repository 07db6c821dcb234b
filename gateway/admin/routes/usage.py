"""Usage per day and key over a date range, with totals. A member sees only their own
keys' usage: naming another user or another user's key is a 404."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Request, get

from gateway.accounts.usage_read import MAX_RANGE_DAYS, UsageReader, sum_counts
from gateway.admin.auth import caller_of, services_of
from gateway.admin.bodies import query_params
from gateway.admin.errors import bad_request, not_found
from gateway.admin.schemas import UsageOut, counts_out, usage_row_out

DEFAULT_DAYS = 30
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@get(
    "/usage",
    summary="Usage rows per UTC day and totals: ?from=YYYY-MM-DD&to=YYYY-MM-DD&key=&user=&model=",
)
async def usage(request: Request[Any, Any, Any]) -> UsageOut:
    params = query_params(request, {"from", "to", "key", "user", "model"})
    end = _day(params, "to") or datetime.now(UTC).date()
    start = _day(params, "from") or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise bad_request(f"from..to runs forward over at most {MAX_RANGE_DAYS} days", param="from")
    who = caller_of(request).principal
    services = services_of(request)
    user_id, key_id = params.get("user"), params.get("key")
    if not who.is_admin:
        if user_id not in (None, who.user_id):
            raise not_found(f"no user {user_id!r}")
        user_id = who.user_id
        if key_id is not None:  # someone else's key looks like no key at all
            await services.accounts.directory.key_access.get(who, key_id)
    reader = UsageReader(services.store.redis, prefix=services.store.prefix)
    rows = await reader.by_day(
        start, end, key_id=key_id, user_id=user_id, model=params.get("model")
    )
    return UsageOut(
        start=start.isoformat(),
        end=end.isoformat(),
        rows=[usage_row_out(r) for r in rows],
        totals=counts_out(sum_counts(rows)),
    )


def _day(params: dict[str, str], name: str) -> date | None:
    value = params.get(name)
    if value is None:
        return None
    if not _DAY.fullmatch(value):
        return _bad_day(name)
    try:
        return date.fromisoformat(value)
    except ValueError:  # 2026-02-30
        return _bad_day(name)


def _bad_day(name: str) -> date:
    raise bad_request(f"{name} must be a date as YYYY-MM-DD", param=name)


HANDLERS = [usage]
