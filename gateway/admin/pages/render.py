"""Rendering pages: the Jinja environment (litestar's Jinja integration), the context
every page gets, and the security headers every answer under /admin carries.

The Content-Security-Policy allows scripts, styles and images from this origin only: no
inline script, no inline style attribute, no eval. Pages pass data to scripts in
`data-*` attributes, which the policy leaves alone and Jinja escapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

import admin_ui
from gateway.admin.pages.guard import current_viewer

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
NO_STORE = {"cache-control": "no-store"}
STATIC_PATH = "/admin/static"


def _when(value: float | None) -> str:
    if value is None:
        return "never"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "not reported"
    if isinstance(value, int) or digits == 0:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def _percent(value: float | None, missing: str = "not reported") -> str:
    return missing if value is None else f"{value * 100:.1f} %"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(admin_ui.TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a missing name is a bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, number=_number, percent=_percent)
    env.globals.update(static=STATIC_PATH)
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def page(
    request: Request[Any, Any, Any],
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    nav: str = "",
) -> Template:
    viewer = current_viewer(request)
    full = {
        "viewer": viewer,
        "csrf": viewer.claims.csrf if viewer is not None else "",
        "nav": nav,
        "path": request.url.path,
        **context,
    }
    return Template(template_name=name, context=full, status_code=status, headers=NO_STORE)


def secure(response: Response[Any]) -> Response[Any]:
    """after_request: the security headers on every answer under /admin."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
