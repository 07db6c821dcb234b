"""A served model: its settings and the upstream pools that generate and embed for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import BestOfKSettings, ModelSettings
from engines import UpstreamPool


@dataclass(frozen=True, slots=True)
class ModelGroup:
    settings: ModelSettings
    generation: UpstreamPool
    embedding: UpstreamPool
    best_of_k: BestOfKSettings

    @property
    def name(self) -> str:
        return self.settings.name

    def model_changes(self) -> dict[str, Any]:
        """The `model` an upstream must see, when it differs from the public name."""
        upstream_model = self.settings.upstream_model
        return {"model": upstream_model} if upstream_model else {}

    def upstream_headers(
        self, request_id: str, forward: tuple[tuple[str, str], ...] = ()
    ) -> dict[str, str]:
        """Headers of a request upstream: the client's `forward` ones (user agent,
        session ids), then ours, which win (its content type, the request id, the
        upstream's own key)."""
        headers = dict(forward)
        headers["content-type"] = "application/json"
        headers["x-request-id"] = request_id
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        return headers
