"""The admin JSON API under `/admin/api/`: sessions, users, keys, usage (docs/admin-api.md).

Litestar controllers over `gateway.accounts`; the web UI is its client."""

from gateway.admin.router import BASE_PATH, admin_router

__all__ = ["BASE_PATH", "admin_router"]
