"""The admin web UI: server-rendered pages under /admin (Jinja templates and static
files from admin_ui/), over the same accounts as the admin JSON API."""

from gateway.admin.pages.router import pages_router, static_router

__all__ = ["pages_router", "static_router"]
