"""Keys: everyone lists, creates and revokes their own; an admin sees every key and
sets its owner, limits, model allow-list and k ceiling. The full key is shown once, on
the page that answers its creation, with settings to paste into a client. Another
member's key is a 404 page, exactly like a key that does not exist."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from gateway.accounts.keys import KEEP
from gateway.accounts.schema import ApiKey, KeyLimits
from gateway.admin.auth import services_of
from gateway.admin.errors import bad_request
from gateway.admin.pages.forms import count_of, names_of, read_form
from gateway.admin.pages.guard import PAGES_PATH, check_csrf, require_admin, viewer_of
from gateway.admin.pages.render import page
from gateway.admin.pages.snippets import gateway_url, snippets

LIMIT_FIELDS = ("rpm", "tpm", "daily_tokens", "concurrency", "max_k")
MAX_NAME_CHARS = 100


@get("/keys")
async def keys_page(request: Request[Any, Any, Any]) -> Template:
    viewer = viewer_of(request)
    accounts = services_of(request).accounts.directory
    listed = await accounts.key_access.list_keys(viewer.principal)
    owners = {viewer.user.id: viewer.user.name}
    if viewer.is_admin:
        owners = {u.id: u.name for u in await accounts.users.list_users()}
    context = {
        "keys": sorted(listed, key=lambda k: (k.record.revoked, -k.record.created_at)),
        "owners": owners,
        "models": sorted(services_of(request).models),
        "limit_fields": LIMIT_FIELDS,
    }
    return page(request, "keys.html", context, nav="keys")


@post("/keys", status_code=201)
async def create_key(request: Request[Any, Any, Any]) -> Template:
    viewer = viewer_of(request)
    form = await read_form(request, {"csrf_token", "name", "owner", "models", *LIMIT_FIELDS})
    await check_csrf(request, form)
    name = _key_name(form)
    owner = form.get("owner") or None
    models = names_of(form, "models")
    limits = _limits(form)
    if not viewer.is_admin and (owner not in (None, viewer.user.id) or models or limits):
        require_admin(viewer)
    services = services_of(request)
    unknown = sorted(set(models or ()) - set(services.models))
    if unknown:
        raise bad_request(f"no such model: {', '.join(unknown)}", param="models")
    created = await services.accounts.directory.key_access.create(
        viewer.principal, name, owner=owner, models=models, limits=limits
    )
    usable = _usable_models(created.record, sorted(services.models))
    context = {
        "record": created.record,
        "key": created.key,
        "snippets": snippets(gateway_url(request), created.key, usable),
    }
    return page(request, "key_created.html", context, status=201, nav="keys")


@get("/keys/{key_id:str}")
async def key_page(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Template:
    viewer = viewer_of(request)
    services = services_of(request)
    record = await services.accounts.directory.key_access.get(viewer.principal, key_id)
    owner = (
        viewer.user
        if record.owner == viewer.user.id
        else await services.accounts.directory.users.get(record.owner)
    )
    all_models = sorted(services.models)
    context = {
        "record": record,
        "owner": owner,
        "models": all_models,
        "usable": _usable_models(record, all_models),
        "limit_fields": LIMIT_FIELDS,
        "base_url": gateway_url(request),
    }
    return page(request, "key.html", context, nav="keys")


@post("/keys/{key_id:str}/settings", status_code=303)
async def key_settings(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Redirect:
    viewer = viewer_of(request)
    form = await read_form(request, {"csrf_token", "name", "models", *LIMIT_FIELDS})
    await check_csrf(request, form)
    services = services_of(request)
    await services.accounts.directory.key_access.get(viewer.principal, key_id)  # 404 first
    require_admin(viewer)
    models = names_of(form, "models")
    unknown = sorted(set(models or ()) - set(services.models))
    if unknown:
        raise bad_request(f"no such model: {', '.join(unknown)}", param="models")
    await services.accounts.directory.keys.update(
        key_id,
        name=_key_name(form) if form.get("name") else KEEP,
        limits=_limits(form) or KeyLimits(),
        models=models,
    )
    return Redirect(f"{PAGES_PATH}/keys/{key_id}", status_code=303)


@post("/keys/{key_id:str}/revoke", status_code=303)
async def revoke_key(request: Request[Any, Any, Any], key_id: FromPath[str]) -> Redirect:
    viewer = viewer_of(request)
    form = await read_form(request, {"csrf_token"})
    await check_csrf(request, form)
    await services_of(request).accounts.directory.key_access.revoke(viewer.principal, key_id)
    return Redirect(f"{PAGES_PATH}/keys/{key_id}", status_code=303)


def _key_name(form: dict[str, str]) -> str:
    name = form.get("name", "").strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise bad_request(f"give the key a name of 1 to {MAX_NAME_CHARS} characters", param="name")
    return name


def _limits(form: dict[str, str]) -> KeyLimits | None:
    values = {f: count_of(form, f, minimum=1 if f == "max_k" else 0) for f in LIMIT_FIELDS}
    return KeyLimits(**values) if any(v is not None for v in values.values()) else None


def _usable_models(record: ApiKey, models: list[str]) -> list[str]:
    return models if record.models is None else [m for m in models if m in record.models]


HANDLERS = [keys_page, create_key, key_page, key_settings, revoke_key]
