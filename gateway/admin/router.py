"""The admin API's router: every route under `/admin/api`, behind one guard, answering
every error in one shape (`errors.py`)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException

from gateway.admin.auth import admin_guard
from gateway.admin.errors import admin_error_response
from gateway.admin.openapi import openapi_document
from gateway.admin.routes import keys, routing, session, usage, users

BASE_PATH = "/admin/api"


@get("/openapi.json", opt={"public": True}, summary="This API's OpenAPI document")
async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    document = openapi_document(request.app, BASE_PATH)
    return Response(msgspec.json.encode(document), media_type="application/json")


def admin_router() -> Router:
    return Router(
        path=BASE_PATH,
        guards=[admin_guard],
        route_handlers=[
            *session.HANDLERS,
            *users.HANDLERS,
            *keys.HANDLERS,
            *usage.HANDLERS,
            *routing.HANDLERS,
            openapi_json,
        ],
        exception_handlers={HTTPException: admin_error_response, Exception: admin_error_response},
        include_in_schema=False,
    )
