"""Users (admin only): create, disable or enable, reset a password, change the role.
The accounts refuse to disable or demote the last admin; that is a 403 page."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from gateway.accounts.passwords import check_password
from gateway.accounts.schema import ROLES, Role
from gateway.admin.auth import services_of
from gateway.admin.errors import bad_request
from gateway.admin.pages.forms import read_form
from gateway.admin.pages.guard import PAGES_PATH, check_csrf
from gateway.admin.pages.render import page

ADMIN = {"admin": True}
USERS_PATH = f"{PAGES_PATH}/users"


@get("/users", opt=ADMIN)
async def users_page(request: Request[Any, Any, Any]) -> Template:
    accounts = services_of(request).accounts.directory
    users = sorted(await accounts.users.list_users(), key=lambda u: u.name.lower())
    keys = await accounts.keys.list_keys()
    counts: dict[str, int] = {}
    for listed in keys:
        if not listed.record.revoked:
            counts[listed.record.owner] = counts.get(listed.record.owner, 0) + 1
    context = {"users": users, "key_counts": counts, "roles": ROLES, "done": _done(request)}
    return page(request, "users.html", context, nav="users")


@post("/users", opt=ADMIN, status_code=303)
async def create_user(request: Request[Any, Any, Any]) -> Redirect:
    form = await read_form(request, {"csrf_token", "name", "password", "role"})
    await check_csrf(request, form)
    users = services_of(request).accounts.directory.users
    user = await users.create(form.get("name", ""), form.get("password", ""), role=_role(form))
    return Redirect(f"{USERS_PATH}?done=created:{user.name}", status_code=303)


@post("/users/{user_id:str}/role", opt=ADMIN, status_code=303)
async def set_role(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Redirect:
    form = await read_form(request, {"csrf_token", "role"})
    await check_csrf(request, form)
    user = await services_of(request).accounts.directory.users.set_role(user_id, _role(form))
    return Redirect(f"{USERS_PATH}?done=role:{user.name}", status_code=303)


@post("/users/{user_id:str}/disabled", opt=ADMIN, status_code=303)
async def set_disabled(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Redirect:
    form = await read_form(request, {"csrf_token", "disabled"})
    await check_csrf(request, form)
    flag = form.get("disabled")
    if flag not in ("true", "false"):
        raise bad_request("disabled must be true or false", param="disabled")
    user = await services_of(request).accounts.directory.set_disabled(user_id, flag == "true")
    done = "disabled" if user.disabled else "enabled"
    return Redirect(f"{USERS_PATH}?done={done}:{user.name}", status_code=303)


@post("/users/{user_id:str}/password", opt=ADMIN, status_code=303)
async def reset_password(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Redirect:
    form = await read_form(request, {"csrf_token", "password"})
    await check_csrf(request, form)
    accounts = services_of(request).accounts.directory
    password = form.get("password", "")
    check_password(password, min_chars=accounts.settings.min_password_chars)
    user = await accounts.users.change_password(user_id, password)  # ends their sessions
    return Redirect(f"{USERS_PATH}?done=password:{user.name}", status_code=303)


def _role(form: dict[str, str]) -> Role:
    role = form.get("role", "member")
    if role == "admin":
        return "admin"
    if role == "member":
        return "member"
    raise bad_request("role must be admin or member", param="role")


def _done(request: Request[Any, Any, Any]) -> str | None:
    # What the last form did, for the notice: "created:alice" -> "alice: created".
    action, _, name = request.query_params.get("done", "").partition(":")
    words = {
        "created": "created",
        "role": "role changed",
        "disabled": "disabled; their keys are suspended",
        "enabled": "enabled",
        "password": "password reset; their sessions ended",
    }
    return f"{name}: {words[action]}" if action in words and name else None


HANDLERS = [users_page, create_user, set_role, set_disabled, reset_password]
