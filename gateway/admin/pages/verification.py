"""Whether test-time compute pays off: the verified-answer rate and k over the last
days (from the usage ledger), the Lens (checkpoint version, held-out AUC, energy gap,
examples stored, the last training's learning curve), and places for the router's
statistics and the pattern cache, which are not built yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, get
from litestar.response import Template

from gateway.accounts.usage_read import UsageCounts
from gateway.accounts.usage_summary import UsageSummaries
from gateway.admin.auth import services_of
from gateway.admin.pages.render import page
from gateway.wiring.services import Services

ADMIN = {"admin": True}
RECENT_DAYS = 30


@get("/verification", opt=ADMIN)
async def verification_page(request: Request[Any, Any, Any]) -> Template:
    services = services_of(request)
    end = datetime.now(UTC).date()
    days = [(end - timedelta(days=n)).isoformat() for n in range(RECENT_DAYS)]
    summaries = UsageSummaries(services.store.redis, prefix=services.store.prefix)
    found = await summaries.by_day(days)
    recent = sum((day.total for day in found), UsageCounts())
    lens = await lens_view(services)
    context = {"recent": recent, "days": RECENT_DAYS, "lens": lens}
    return page(request, "verification.html", context, nav="verification")


async def lens_view(services: Services) -> dict[str, Any] | None:
    if services.lens is None:
        return None
    status = services.lens.service.status()
    last = status.get("last_training") or {}
    metrics = last.get("metrics") or {}
    history = metrics.get("history") or []
    return {
        "ready": status["ready"],
        "version": status["version"],
        "training": status["training"],
        "pending": status["pending_examples"],
        "train_every": status["train_every"],
        "examples": await services.lens.examples_stored(),
        "auc": metrics.get("val_auc"),
        "energy_gap": metrics.get("val_energy_gap"),
        "last_reason": last.get("reason"),
        "swapped": last.get("swapped"),
        "curve": {
            "type": "line",
            "labels": [str(e["epoch"]) for e in history],
            "datasets": [
                {"label": "held-out AUC", "data": [e["val_auc"] for e in history]},
                {"label": "training loss", "data": [e["loss"] for e in history]},
            ],
        },
        "history": history,
    }


HANDLERS = [verification_page]
