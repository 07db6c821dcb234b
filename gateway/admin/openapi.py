"""The admin API's OpenAPI 3.1 document, written from the routes the app really serves
(`app.routes` under the admin path) and the msgspec Structs they declare: the request
body in `opt["body"]`, the answer in the return annotation. So it cannot list a route
that is not there or miss one that is."""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from gateway.admin.errors import ErrorBody

_REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_SECURITY: list[dict[str, list[str]]] = [{"session": [], "csrf": []}, {"master_key": []}]


def openapi_document(app: Litestar, base_path: str) -> dict[str, Any]:
    structs: set[type[Any]] = {ErrorBody}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(base_path):
            continue
        path = _PARAM.sub(r"{\1}", route.path)
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                paths.setdefault(path, {})[method.lower()] = _operation(handler, path, structs)
    _, components = msgspec.json.schema_components(sorted(structs, key=str), ref_template=_REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ATLAS admin API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-atlas_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "x-csrf-token"},
                "master_key": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _operation(handler: HTTPRouteHandler, path: str, structs: set[type[Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": handler.handler_name,
        "summary": handler.summary or handler.handler_name,
        "responses": {
            str(handler.status_code): _answer(handler, structs),
            "default": _json("an error", ErrorBody),
        },
    }
    if handler.description:
        operation["description"] = handler.description
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]
    if params:
        operation["parameters"] = params
    body = handler.opt.get("body")
    if body is not None:
        structs.add(body)
        operation["requestBody"] = {"required": True, **_json("", body)}
    operation["security"] = [] if handler.opt.get("public") else _SECURITY
    return operation


def _answer(handler: HTTPRouteHandler, structs: set[type[Any]]) -> dict[str, Any]:
    returned = handler.parsed_fn_signature.return_type.annotation
    if typing.get_origin(returned) is Response:
        returned = typing.get_args(returned)[0]
    if isinstance(returned, type) and issubclass(returned, msgspec.Struct):
        structs.add(returned)
        return _json(handler.summary or "", returned)
    return {"description": "no content"}


def _json(description: str, struct: type[Any]) -> dict[str, Any]:
    ref = {"$ref": _REF.format(name=struct.__name__)}
    return {"description": description, "content": {"application/json": {"schema": ref}}}
