"""Users: an admin lists, creates and changes anyone; a member sees and changes only
themselves (another user is a 404). Role and disabling are an admin's; a password is
changed by its owner with the current one, or reset by an admin."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath
from msgspec import UNSET

from gateway.accounts.access import visible_user
from gateway.accounts.schema import User
from gateway.accounts.service import Accounts
from gateway.admin.auth import Caller, caller_of, services_of
from gateway.admin.bodies import read_body
from gateway.admin.errors import AdminError, bad_request, forbidden
from gateway.admin.cookies import set_session_cookie
from gateway.admin.schemas import (
    CreateUserBody,
    PasswordChanged,
    UpdateUserBody,
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
async def update_user(request: Request[Any, Any, Any], user_id: FromPath[str]) -> Response[PasswordChanged]:
    caller = caller_of(request)
    accounts = services_of(request).accounts.directory
    user = await visible_user(accounts.users, caller.principal, user_id)
    body = await read_body(request, UpdateUserBody)
    if (body.role is not UNSET or body.disabled is not UNSET) and not caller.principal.is_admin:
        raise forbidden("only an admin changes a user's role or disables a user")
    if body.password is UNSET and body.current_password is not UNSET:
        raise bad_request("current_password goes with a new password", param="current_password")
    if body.role is not UNSET:
        user = await accounts.users.set_role(user_id, body.role)
    if body.disabled is not UNSET:
        user = await accounts.set_disabled(user_id, body.disabled)
    if body.password is UNSET:
        return Response(PasswordChanged(user=user_out(user)))
    return await _change_password(request, caller, accounts, user, body)


async def _change_password(
    request: Request[Any, Any, Any],
    caller: Caller,
    accounts: Accounts,
    user: User,
    body: UpdateUserBody,
) -> Response[PasswordChanged]:
    assert isinstance(body.password, str)
    own = caller.user is not None and caller.user.id == user.id
    if own:
        if not isinstance(body.current_password, str):
            raise bad_request("send current_password to change your password", param="password")
        await _check_current_password(request, accounts, user, body.current_password)
    elif body.current_password is not UNSET:
        raise bad_request("current_password is only for your own password")
    changed = await accounts.users.change_password(user.id, body.password)  # voids sessions
    if not own:
        return Response(PasswordChanged(user=user_out(changed)))
    # The caller's own session ended with the others: it continues as a new one.
    session = accounts.sessions.issue(changed.id)
    response = Response(PasswordChanged(user=user_out(changed), csrf_token=session.csrf))
    set_session_cookie(request, response, session.token, accounts.settings.session_ttl_s)
    return response


async def _check_current_password(
    request: Request[Any, Any, Any], accounts: Accounts, user: User, password: str
) -> None:
    # Throttled like a login: a stolen session must not become a password oracle.
    client = request.scope.get("client")
    address = client[0] if client else None
    await accounts.throttle.check(user.name, address)
    if not (await accounts.passwords.verify(user.password_hash, password)).ok:
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
