"""A served model: its settings and the upstream pools that generate and embed for it."""

from __future__ import annotations

from dataclasses import dataclass

from config import BestOfKSettings, ModelSettings, StrategySettings
from engines.pool import UpstreamPool


def best_of_k_settings(strategy: StrategySettings) -> BestOfKSettings:
    """The best-of-k settings that apply when a request runs best-of-k on this model:
    a pass-through model still lets clients ask for it, up to its max_k."""
    if isinstance(strategy, BestOfKSettings):
        return strategy
    return BestOfKSettings(k=1, max_k=strategy.max_k)


@dataclass(frozen=True, slots=True)
class ModelGroup:
    settings: ModelSettings
    generation: UpstreamPool
    embedding: UpstreamPool
    best_of_k: BestOfKSettings

    @property
    def name(self) -> str:
        return self.settings.name

    def upstream_headers(self, request_id: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "x-request-id": request_id}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        return headers
