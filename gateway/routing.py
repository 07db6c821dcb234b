"""Which strategy serves a chat request: pass-through (k=1) or best-of-k."""

from __future__ import annotations

import re
from collections.abc import Mapping

from config import BestOfKSettings
from gateway.errors import APIError
from gateway.schemas import ChatCompletionRequest

K_HEADER = "x-atlas-k"
# A request that asks for code: best-of-k only helps when candidates can be run.
_CODE_REQUEST = re.compile(
    r"```|\bdef \w+\(|\bfunction\b|\bclass \w+|\bimplement|\bwrite (a|an|the)? ?(python|"
    r"program|function|script|code)|\bcode\b|\bpython\b|\bjavascript\b|\bc\+\+|\breturns?\b",
    re.IGNORECASE,
)


def requested_k(
    chat: ChatCompletionRequest, headers: Mapping[str, str], settings: BestOfKSettings
) -> tuple[int, bool]:
    """(k, forced): the client's override, capped by config, or the model's default."""
    forced: int | None = None
    if chat.atlas is not None and chat.atlas.k is not None:
        forced = chat.atlas.k
    elif K_HEADER in headers:
        try:
            forced = int(headers[K_HEADER])
        except ValueError:
            raise APIError(
                400, f"{K_HEADER} must be an integer", param=K_HEADER, code="invalid_value"
            ) from None
    if forced is None:
        return settings.k, False
    if forced < 1:
        raise APIError(400, "atlas.k must be at least 1", param="atlas.k", code="invalid_value")
    return min(forced, settings.max_k), True


def use_best_of_k(chat: ChatCompletionRequest, k: int, forced: bool, prompt: str) -> bool:
    if k <= 1:
        return False
    if chat.n > 1:
        raise APIError(
            400,
            "n > 1 cannot be combined with best-of-k (atlas.k > 1)",
            param="n",
            code="invalid_value",
        )
    if forced:
        return True
    # Tool calls and prose answers cannot be verified: pass them through unless forced.
    return not chat.tools and bool(_CODE_REQUEST.search(prompt))
