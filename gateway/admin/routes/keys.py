"""API keys: a member lists, creates, renames and revokes their own; an admin any, and
only an admin sets limits, the model allow-list or an expiry (a member trying gets a
403 on their own key: it leaks nothing). Another user's key is a 404."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, delete, get, patch, post
from litestar.params import FromPath
from msgspec import UNSET

from gateway.accounts.keys import KEEP
from gateway.admin.auth import caller_of, services_of
from gateway.admin.bodies import query_params, read_body
from gateway.admin.errors import bad_request, forbidden
from gateway.admin.schemas import (
    CreatedKeyOut,
    CreateKeyBody,
    KeyList,
    KeyOut,
    UpdateKeyBody,
    created_key_out,
    key_out,
    listed_key_out,
)


def _check_expiry(expires_at: float | None) -> None:
    if expires_at is not None and expires_at <= time.time():
        raise bad_request("expires_at is in the past", param="expires_at")


@get("/keys", summary="Keys: a member's own; for an admin every key, or one user's (?user=)")
async def list_keys(request: Request[Any, Any, Any]) -> KeyList:
    owner = query_params(request, {"user"}).get("user")
    access = services_of(request).accounts.directory.key_access
    listed = await access.list_keys(caller_of(request).principal, owner)
    return KeyList(keys=[listed_key_out(k) for k in listed])


@post(
    "/keys",
    opt={"body": CreateKeyBody},
    summary="Create a key; the answer holds the full key, shown only this once",
    status_code=201,
)
async def create_key(request: Request[Any, Any, Any]) -> CreatedKeyOut:
    caller = caller_of(request)
    who = caller.principal
    body = await read_body(request, CreateKeyBody)
    if caller.via == "master_key" and body.owner is None:
        raise bad_request("the master key owns no keys: name the owner (a user id)", param="owner")
    if body.expires_at is not None and not who.is_admin:
        raise forbidden("only an admin sets a key's expiry")
    _check_expiry(body.expires_at)
    access = services_of(request).accounts.directory.key_access
    created = await access.create(
        who,
        body.name,
        owner=body.owner,
        expires_at=body.expires_at,
        models=body.models,
        limits=None if body.limits is None else body.limits.to_limits(),
    )
    return created_key_out(created)


@get("/keys/{key_id:str}", summary="One key")
async def get_key(request: Request[Any, Any, Any], key_id: FromPath[str]) -> KeyOut:
    access = services_of(request).accounts.directory.key_access
    return key_out(await access.get(caller_of(request).principal, key_id))


@patch(
    "/keys/{key_id:str}",
    opt={"body": UpdateKeyBody},
    summary="Rename a key; an admin also sets its limits, models and expiry",
)
async def update_key(request: Request[Any, Any, Any], key_id: FromPath[str]) -> KeyOut:
    who = caller_of(request).principal
    accounts = services_of(request).accounts.directory
    await accounts.key_access.get(who, key_id)  # another member's key: 404 first
    body = await read_body(request, UpdateKeyBody)
    admin_fields = (body.limits, body.models, body.expires_at)
    if not who.is_admin and any(field is not UNSET for field in admin_fields):
        raise forbidden("only an admin changes a key's limits, models or expiry")
    if isinstance(body.expires_at, float):
        _check_expiry(body.expires_at)
    record = await accounts.keys.update(
        key_id,
        name=KEEP if body.name is UNSET else body.name,
        limits=body.limits.to_limits() if body.limits is not UNSET else KEEP,
        models=KEEP if body.models is UNSET else body.models,
        expires_at=KEEP if body.expires_at is UNSET else body.expires_at,
    )
    return key_out(record)


@delete("/keys/{key_id:str}", summary="Revoke a key (it stays listed, revoked)", status_code=200)
async def revoke_key(request: Request[Any, Any, Any], key_id: FromPath[str]) -> KeyOut:
    access = services_of(request).accounts.directory.key_access
    return key_out(await access.revoke(caller_of(request).principal, key_id))


HANDLERS = [list_keys, create_key, get_key, update_key, revoke_key]
