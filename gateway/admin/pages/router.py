"""The pages' router: every page under /admin behind one guard (a session), every error
as an error page, the security headers (CSP) on every answer; and the static files."""

from __future__ import annotations

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.static_files import create_static_files_router

import admin_ui
from gateway.admin.pages import engines, keys, session, traces, usage, users, verification
from gateway.admin.pages.errors import page_error
from gateway.admin.pages.guard import PAGES_PATH, page_guard
from gateway.admin.pages.render import STATIC_PATH, secure


def pages_router() -> Router:
    return Router(
        path=PAGES_PATH,
        guards=[page_guard],
        route_handlers=[
            *session.HANDLERS,
            *keys.HANDLERS,
            *users.HANDLERS,
            *usage.HANDLERS,
            *engines.HANDLERS,
            *verification.HANDLERS,
            *traces.HANDLERS,
        ],
        after_request=secure,
        exception_handlers={HTTPException: page_error, Exception: page_error},
        include_in_schema=False,
    )


def static_router() -> Router:
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[admin_ui.STATIC],
        after_request=secure,
        cache_control=CacheControlHeader(max_age=3600),
        include_in_schema=False,
    )
