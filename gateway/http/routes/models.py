"""GET /v1/models and /v1/models/{id} (also without /v1; HEAD as GET: `head_as_get`): an
API key with an allow-list sees only its models."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath

from config import Settings
from gateway.http.auth import caller_of
from gateway.http.errors import APIError
from gateway.http.requests import json_response
from gateway.http.schemas import ModelCard, ModelList


def model_handlers(settings: Settings) -> list[Any]:
    created = int(time.time())
    cards = {m.name: ModelCard(id=m.name, created=created) for m in settings.models}
    listing = msgspec.json.encode(ModelList(data=list(cards.values())))

    @get(["/v1/models", "/models"])
    async def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        allowed = caller_of(request).models
        if allowed is None:
            return json_response(listing)
        visible = [card for name, card in cards.items() if name in allowed]
        return json_response(msgspec.json.encode(ModelList(data=visible)))

    @get(["/v1/models/{model_id:path}", "/models/{model_id:path}"])
    async def get_model(
        request: Request[Any, Any, Any], model_id: FromPath[str]
    ) -> Response[bytes]:
        name = model_id.lstrip("/")
        card = cards.get(name) if caller_of(request).allows(name) else None
        if card is None:
            raise APIError(
                404, f"The model {name!r} does not exist", param="model", code="model_not_found"
            )
        return json_response(msgspec.json.encode(card))

    return [list_models, get_model]
