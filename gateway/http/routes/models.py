"""GET /v1/models and /v1/models/{id}."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Response, get
from litestar.params import FromPath

from config import Settings
from gateway.http.errors import APIError
from gateway.http.requests import json_response
from gateway.http.schemas import ModelCard, ModelList


def model_handlers(settings: Settings) -> list[Any]:
    created = int(time.time())
    cards = {m.name: ModelCard(id=m.name, created=created) for m in settings.models}
    listing = msgspec.json.encode(ModelList(data=list(cards.values())))

    @get("/v1/models")
    async def list_models() -> Response[bytes]:
        return json_response(listing)

    @get("/v1/models/{model_id:path}")
    async def get_model(model_id: FromPath[str]) -> Response[bytes]:
        card = cards.get(model_id.lstrip("/"))
        if card is None:
            raise APIError(
                404,
                f"The model {model_id.lstrip('/')!r} does not exist",
                param="model",
                code="model_not_found",
            )
        return json_response(msgspec.json.encode(card))

    return [list_models, get_model]
