"""Thompson sampling over the routes of one difficulty bin.

Each route r keeps a Beta(1 + passes, 1 + failures) posterior of "its answer passed the
request's trusted tests" and the generated tokens it spent. A choice samples each
posterior and takes the best `theta_r - cost_weight * cost_r / max_cost`, where `cost_r`
is the route's mean generated tokens (before any observation, k_r * prior_tokens, with
the weight of one observation). The counts live behind `RouteStats` (Redis, per model,
shared by replicas: gateway/wiring/route_stats.py).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Literal, Protocol

import msgspec

Route = Literal["cache", "fast", "standard", "hard"]
ARMS: tuple[Route, ...] = ("fast", "standard", "hard")  # the cache is no arm: a hit is free


class Posterior(msgspec.Struct, frozen=True, kw_only=True):
    passes: int = 0
    failures: int = 0
    tokens: float = 0.0  # generated tokens, summed over the route's observations

    @property
    def alpha(self) -> float:
        return 1.0 + self.passes

    @property
    def beta(self) -> float:
        return 1.0 + self.failures

    @property
    def count(self) -> int:
        return self.passes + self.failures

    def mean_cost(self, prior: float) -> float:
        """Mean generated tokens, with `prior` as one pseudo-observation."""
        return (self.tokens + prior) / (self.count + 1)


class RouteStats(Protocol):
    """The bandit's counts, per model and difficulty bin."""

    async def posteriors(self, model: str, bin_: int) -> dict[Route, Posterior]: ...

    async def record(
        self, model: str, bin_: int, route: Route, *, passed: bool, tokens: int
    ) -> None: ...


def choose_route(
    posteriors: Mapping[Route, Posterior],
    ks: Mapping[Route, int],
    *,
    cost_weight: float,
    prior_tokens: int,
    rng: random.Random,
) -> Route:
    """One Thompson draw over the arms in `ks` (route -> its k after the caps)."""
    costs = {
        r: posteriors.get(r, Posterior()).mean_cost(float(k * prior_tokens)) for r, k in ks.items()
    }
    top = max(costs.values()) or 1.0
    best: Route = "fast"
    best_score = float("-inf")
    for route in ks:
        post = posteriors.get(route, Posterior())
        score = rng.betavariate(post.alpha, post.beta) - cost_weight * costs[route] / top
        if score > best_score:
            best, best_score = route, score
    return best
