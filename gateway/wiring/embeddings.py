"""Embeddings from a model group's embedding upstreams (OpenAI /v1/embeddings): the
Lens' features and the pattern cache's near matches. No torch here: the router uses it
without the Lens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from engines import Dispatcher
from gateway.strategies.model import ModelGroup

EMBEDDINGS_PATH = "/v1/embeddings"


class UpstreamEmbedder:
    """lens.Embedder over a model group's embedding upstreams (OpenAI /v1/embeddings)."""

    def __init__(self, dispatcher: Dispatcher, group: ModelGroup, purpose: str = "lens") -> None:
        self._dispatcher = dispatcher
        self._group = group
        self._purpose = purpose

    @property
    def model_id(self) -> str:
        return self._group.settings.upstream_model or self._group.name

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        body = msgspec.json.encode({"model": self.model_id, "input": list(texts)})
        reply = await self._dispatcher.post_json(
            self._group.embedding,
            EMBEDDINGS_PATH,
            body,
            {**self._group.upstream_headers(self._purpose), "x-atlas-purpose": self._purpose},
        )
        data: dict[str, Any] = msgspec.json.decode(reply.body)
        rows = sorted(data.get("data") or [], key=lambda row: row.get("index", 0))
        return [list(map(float, row["embedding"])) for row in rows]
