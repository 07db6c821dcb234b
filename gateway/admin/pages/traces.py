"""Request traces: the last answers of every replica (the Redis stream of gateway/wiring/
trace_store.py), with route, k, tests and their source, per-candidate verdicts, the
selection reason, tokens and latency; one request on its own page. An admin sees every
trace and turns text capture on or off (for every replica); a member sees their own
keys' only. Each page first writes this replica's buffer, so what it just answered shows."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from gateway.admin.auth import services_of
from gateway.admin.errors import bad_request, not_found
from gateway.admin.pages.forms import int_param, query, read_form
from gateway.admin.pages.guard import PAGES_PATH, Viewer, check_csrf, require_admin, viewer_of
from gateway.admin.pages.render import page
from gateway.telemetry.traces import Trace

DEFAULT_SHOWN = 100


def _visible(viewer: Viewer) -> Any:
    if viewer.is_admin:
        return None
    user_id = viewer.user.id
    return lambda trace: trace.user_id == user_id


@get("/traces")
async def traces_page(request: Request[Any, Any, Any]) -> Template:
    viewer = viewer_of(request)
    store = services_of(request).traces
    params = query(request, {"limit", "model", "route"})
    limit = int_param(params, "limit", DEFAULT_SHOWN, low=1, high=max(store.capacity, 1))
    model, route = params.get("model"), params.get("route")
    visible = _visible(viewer)

    def keep(trace: Trace) -> bool:
        return (
            (visible is None or visible(trace))
            and (model is None or trace.model == model)
            and (route is None or trace.route == route)
        )

    await store.flush()  # a failure leaves them buffered; the reads below then say so
    context = {
        "traces": await store.recent(limit, keep),
        "held": await store.held(),
        "capacity": store.capacity,
        "capture": await store.capturing(),
        "params": params,
        "limit": limit,
    }
    return page(request, "traces.html", context, nav="traces")


@get("/traces/{trace_id:str}")
async def trace_page(request: Request[Any, Any, Any], trace_id: FromPath[str]) -> Template:
    viewer = viewer_of(request)
    if not trace_id.isdigit() or len(trace_id) > 18:
        raise bad_request("a trace id is a whole number", param="trace_id")
    trace = await services_of(request).traces.get(int(trace_id))
    visible = _visible(viewer)
    if trace is None or (visible is not None and not visible(trace)):
        raise not_found("no such trace: it may have left the store of recent requests")
    return page(request, "trace.html", {"trace": trace}, nav="traces")


@post("/traces/capture", status_code=303)
async def set_capture(request: Request[Any, Any, Any]) -> Redirect:
    viewer = viewer_of(request)
    form = await read_form(request, {"csrf_token", "capture"})
    await check_csrf(request, form)
    require_admin(viewer)
    if form.get("capture") not in ("on", "off"):
        raise bad_request("capture must be on or off", param="capture")
    await services_of(request).traces.set_capture(form["capture"] == "on")
    return Redirect(f"{PAGES_PATH}/traces", status_code=303)


HANDLERS = [traces_page, trace_page, set_capture]
