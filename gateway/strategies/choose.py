"""Which strategy answers a call: pass-through (k=1) or best-of-k (k > 1, or k = 1 with
`"atlas": {"repair": n}`: one candidate, verified and repaired).

k comes from the client (`"atlas": {"k": n}` or `x-atlas-k`), capped by the model's
strategy settings, else from the model's strategy; then capped by the caller's API key
(`max_k`), whichever way it came. Only chat calls that look like a
code task run best-of-k unless the client forced it: tool calls and prose answers
cannot be verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config import BestOfKSettings
from gateway.strategies.base import Call, Strategy
from gateway.strategies.best_of_k.strategy import BestOfKStrategy, BestOfKTools
from gateway.strategies.errors import InvalidCallError
from gateway.strategies.passthrough import PassThrough

# A request that asks for code: best-of-k only helps when candidates can be run.
# Read lower-cased, each alternative starting with its literal (a `\b` before it is
# checked behind it): re then skips fast to a possible start, about 3 ms a megabyte
# where a leading `\b` under IGNORECASE took 150 to 500. Only the first and last
# CODE_SCAN_CHARS of a longer prompt are read.
_CODE_REQUEST = re.compile(
    r"```|c\+\+(?<=\bc\+\+)|def(?<=\bdef) \w+\(|function(?<=\bfunction)\b|class(?<=\bclass) \w+"
    r"|implement(?<=\bimplement)"
    r"|write(?<=\bwrite) (a|an|the)? ?(python|program|function|script|code)"
    r"|code(?<=\bcode)\b|python(?<=\bpython)\b|javascript(?<=\bjavascript)\b"
    r"|return(?<=\breturn)s?\b"
)
CODE_SCAN_CHARS = 64 * 1024


def looks_like_code_request(text: str) -> bool:
    if len(text) > 2 * CODE_SCAN_CHARS:
        text = text[:CODE_SCAN_CHARS] + "\n" + text[-CODE_SCAN_CHARS:]
    return _CODE_REQUEST.search(text.lower()) is not None


def requested_k(call: Call, settings: BestOfKSettings) -> tuple[int, bool]:
    """(k, forced): the client's override, capped by config, or the model's default."""
    forced = call.controls.k
    if forced is None:
        return settings.k, False
    if forced < 1:
        raise InvalidCallError("atlas.k must be at least 1", param="atlas.k", code="invalid_value")
    return min(forced, settings.max_k), True


def use_best_of_k(call: Call, k: int, forced: bool) -> bool:
    # k = 1 with repair asked for: the client's own answer, verified, repaired if it fails.
    if k < 1 or (k == 1 and not call.controls.repair):
        return False
    if call.n > 1:
        raise InvalidCallError(
            "n > 1 cannot be combined with best-of-k (atlas.k > 1)", param="n", code="invalid_value"
        )
    if forced:
        return True
    return not call.has_tools and looks_like_code_request(call.prompt_text)


@dataclass(frozen=True, slots=True)
class Strategies:
    """The process's strategies, built once by the composition root."""

    pass_through: PassThrough
    best_of_k: BestOfKTools

    def choose(self, call: Call, max_k: int | None = None) -> Strategy:
        """The strategy for `call`; `max_k`: the most candidates its API key allows."""
        if call.endpoint != "chat":
            return self.pass_through
        settings = call.model.best_of_k
        k, forced = requested_k(call, settings)
        if max_k is not None:
            k = max(1, min(k, max_k))
        if use_best_of_k(call, k, forced):
            return BestOfKStrategy(self.best_of_k, k, settings)
        return self.pass_through
