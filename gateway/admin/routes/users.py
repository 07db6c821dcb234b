"""Users: an admin lists, creates and changes anyone; a member sees and changes only
themselves (another user is a 404). Role and disabling are an admin's; a password is
changed by its owner with the current one, or reset by an admin."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath
from msgspec import UNSET

from gateway.accounts.access import visible_user
from gateway.accounts.passwords import check_password
from gateway.accounts.schema import User
from gateway.accounts.service import Accounts
from gateway.admin.auth import Caller, caller_of, services_of
from gateway.admin.bodies import read_body
from gateway.admin.cookies import set_session_cookie
from gateway.admin.errors import AdminError, bad_request, forbidden
from gateway.admin.schemas import (
    CreateUserBody,
    UpdateUserBody,
    UserChanged,
    UserList,
    UserOut,
    user_out,
)


def _admin_only(caller: Caller) -> None:
    if not caller.principal.is_admin:
        raise forbidden("only an admin lists or creates users")


@get("/users", summary="Every user (admin)")
async def list_users(request: Request[Any, Any, Any]) -> UserList:
    _admin_only(caller_of(request))
    users = await services_of(request).accounts.directory.users.list_users()
    return UserList(users=[user_out(u) for u in users])


@post("/users", opt={"body": CreateUserBody}, summary="Create a user (admin)", status_code=201)
async def create_user(request: Request[Any, Any, Any]) -> UserOut:
    _admin_only(caller_of(request))
    body = await read_body(request, CreateUserBody)
    users = services_of(request).accounts.directory.users
    return user_out(await users.create(body.name, body.password, role=body.role))


@get("/users/{user_id:str}", summary="One user (a member: only themselves)")
async def get_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> UserOut:
    accounts = services_of(request).accounts.directory
    return user_out(await visible_user(accounts.users, caller_of(request).principal, user_id))


@patch(
    "/users/{user_id:str}",
    opt={"body": UpdateUserBody},
    summary="Change role or disabled (admin), or the password",
    description="A caller changing their own password sends current_password; their other "
    "sessions end and the answer carries the new session's CSRF token and cookie.",
)
async def update_user(
    request: Request[Any, Any, Any], user_id: FromPath[str]
) -> Response[UserChanged]:
    caller = caller_of(request)
    accounts = services_of(request).accounts.directory
    user = await visible_user(accounts.users, caller.principal, user_id)
    body = await read_body(request, UpdateUserBody)
    if (body.role is not UNSET or body.disabled is not UNSET) and not caller.principal.is_admin:
        raise forbidden("only an admin changes a user's role or disables a user")
    own = caller.user is not None and caller.user.id == user.id
    if body.password is not UNSET:  # every check before the first write
        await _check_password_change(request, accounts, user, body, own=own)
    elif body.current_password is not UNSET:
        raise bad_request("current_password goes with a new password", param="current_password")
    if body.role is not UNSET:
        user = await accounts.users.set_role(user_id, body.role)
    if body.disabled is not UNSET:
        user = await accounts.set_disabled(user_id, body.disabled)
    if body.password is UNSET:
        return Response(UserChanged(user=user_out(user)))
    user = await accounts.users.change_password(user.id, body.password)  # voids sessions
    if not own:
        return Response(UserChanged(user=user_out(user)))
    # The caller's own session ended with the others: it continues as a new one.
    session = accounts.sessions.issue(user.id)
    response = Response(UserChanged(user=user_out(user), csrf_token=session.csrf))
    set_session_cookie(request, response, session.token, accounts.settings.session_ttl_s)
    return response


async def _check_password_change(
    request: Request[Any, Any, Any],
    accounts: Accounts,
    user: User,
    body: UpdateUserBody,
    *,
    own: bool,
) -> None:
    """One's own password needs the current one; an admin resets another's without."""
    assert isinstance(body.password, str)
    if not own:
        if body.current_password is not UNSET:
            raise bad_request("current_password is only for your own password")
        check_password(body.password, min_chars=accounts.settings.min_password_chars)
        return
    if not isinstance(body.current_password, str):
        raise bad_request("send current_password to change your password", param="password")
    check_password(body.password, min_chars=accounts.settings.min_password_chars)
    # Throttled like a login: a stolen session must not become a password oracle.
    client = request.scope.get("client")
    address = client[0] if client else None
    await accounts.throttle.check(user.name, address)
    if not (await accounts.passwords.verify(user.password_hash, body.current_password)).ok:
        await accounts.throttle.failed(user.name, address)
        raise AdminError(
            403,
            "the current password is wrong",
            type="permission_error",
            code="wrong_password",
            param="current_password",
        )


@delete("/users/{user_id:str}", summary="Delete a user and their keys", status_code=200)
async def delete_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> UserOut:
    accounts = services_of(request).accounts.directory
    await visible_user(accounts.users, caller_of(request).principal, user_id)
    return user_out(await accounts.delete_user(user_id))


HANDLERS = [list_users, create_user, get_user, update_user, delete_user]
