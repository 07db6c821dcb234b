"""Usage, overall and per key, by day and model, over a date range: requests, tokens
returned against tokens generated across candidates, routes, k and the verified-answer
rate, as charts and tables. A member sees only their own keys' usage (another user's
key is a 404 page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.response import Template

from gateway.accounts.usage_read import MAX_RANGE_DAYS, UsageCounts
from gateway.accounts.usage_summary import DaySummary, UsageSummaries
from gateway.admin.auth import services_of
from gateway.admin.errors import bad_request
from gateway.admin.pages.forms import day_of, query
from gateway.admin.pages.guard import viewer_of
from gateway.admin.pages.render import page
from gateway.wiring.services import Services

DEFAULT_DAYS = 30


@get("/usage")
async def usage_page(request: Request[Any, Any, Any]) -> Template:
    params = query(request, {"from", "to", "key", "user", "model"})
    end = day_of(params, "to") or datetime.now(UTC).date()
    start = day_of(params, "from") or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise bad_request(f"from..to runs forward over at most {MAX_RANGE_DAYS} days", param="from")
    viewer = viewer_of(request)
    services = services_of(request)
    access = services.accounts.directory.key_access
    key_id, user_id = params.get("key"), params.get("user")
    if not viewer.is_admin:
        if user_id not in (None, viewer.user.id):
            raise bad_request("you can see only your own usage", param="user")
        user_id = viewer.user.id
    if key_id is not None:
        await access.get(viewer.principal, key_id)  # someone else's key: a 404
    keys = {k.record.id: k.record.name for k in await access.list_keys(viewer.principal)}
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    summaries = UsageSummaries(services.store.redis, prefix=services.store.prefix)
    found = await summaries.by_day(days, key_id=key_id, user_id=user_id, model=params.get("model"))
    summary = summarize(found, days)
    context = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "params": params,
        "keys": keys,
        "models": sorted(services.models),
        "users": await _users(services, viewer.is_admin),
        **summary,
        "charts": charts(summary, days),
    }
    return page(request, "usage.html", context, nav="usage")


async def _users(services: Services, is_admin: bool) -> dict[str, str]:
    if not is_admin:
        return {}
    return {u.id: u.name for u in await services.accounts.directory.users.list_users()}


def summarize(found: list[DaySummary], days: list[str]) -> dict[str, Any]:
    by_day: dict[str, UsageCounts] = {day: UsageCounts() for day in days}
    by_model: dict[str, UsageCounts] = {}
    by_key: dict[str, UsageCounts] = {}
    by_day_model: dict[tuple[str, str], UsageCounts] = {}
    for day in found:
        for model, counts in day.by_model.items():
            by_day[day.day] = by_day[day.day] + counts
            by_model[model] = by_model.get(model, UsageCounts()) + counts
            by_day_model[(day.day, model)] = counts
        for key_id, counts in day.by_key.items():
            by_key[key_id] = by_key.get(key_id, UsageCounts()) + counts
    return {
        "total": sum(by_day.values(), UsageCounts()),
        "by_day": by_day,
        "by_model": dict(sorted(by_model.items())),
        "by_key": dict(sorted(by_key.items(), key=lambda kv: -kv[1].requests)),
        "by_day_model": dict(sorted(by_day_model.items(), reverse=True)),
    }


def returned_tokens(counts: UsageCounts) -> int:
    return counts.prompt_tokens + counts.completion_tokens


def charts(summary: dict[str, Any], days: list[str]) -> dict[str, Any]:
    by_day: dict[str, UsageCounts] = summary["by_day"]
    total: UsageCounts = summary["total"]
    labels = [d[5:] for d in days]  # MM-DD
    return {
        "tokens": {
            "type": "line",
            "integer": True,
            "labels": labels,
            "datasets": [
                {"label": "tokens returned", "data": [returned_tokens(by_day[d]) for d in days]},
                {"label": "tokens generated", "data": [by_day[d].generated_tokens for d in days]},
            ],
        },
        "requests": {
            "type": "bar",
            "integer": True,
            "labels": labels,
            "datasets": [
                {"label": "requests", "data": [by_day[d].requests for d in days]},
                {"label": "verified", "data": [by_day[d].verified for d in days]},
            ],
        },
        "routes": {
            "type": "bar",
            "integer": True,
            "labels": sorted(total.routes),
            "datasets": [
                {"label": "requests", "data": [total.routes[r] for r in sorted(total.routes)]}
            ],
        },
        "k": {
            "type": "bar",
            "integer": True,
            "labels": [f"k={k}" for k in sorted(total.k)],
            "datasets": [{"label": "requests", "data": [total.k[k] for k in sorted(total.k)]}],
        },
    }


HANDLERS = [usage_page]
