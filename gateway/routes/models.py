"""GET /v1/models and /v1/models/{id}."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Response, get
from litestar.params import FromPath

from gateway.errors import APIError
from gateway.requests import json_response
from gateway.schemas import ModelCard, ModelList
from gateway.services import Services


def model_handlers(services: Services) -> list[Any]:
    created = int(time.time())
    cards = {name: ModelCard(id=name, created=created) for name in services.models}
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
