"""Thompson sampling over the routes of one bin."""

from __future__ import annotations

import random
from collections import Counter

from gateway.strategies.router.bandit import Posterior, Route, choose_route

KS: dict[Route, int] = {"fast": 1, "standard": 5, "hard": 20}


def draws(posteriors: dict[Route, Posterior], n: int = 2000, cost_weight: float = 0.15) -> Counter:
    rng = random.Random(7)
    return Counter(
        choose_route(posteriors, KS, cost_weight=cost_weight, prior_tokens=256, rng=rng)
        for _ in range(n)
    )


def test_with_no_observations_every_route_is_tried() -> None:
    counts = draws({})
    assert set(counts) == {"fast", "standard", "hard"}
    assert counts["fast"] > counts["hard"]  # the same prior pass rate, a lower cost


def test_the_route_that_passes_wins_once_observed() -> None:
    posteriors: dict[Route, Posterior] = {
        "fast": Posterior(passes=2, failures=30, tokens=32 * 200),
        "standard": Posterior(passes=30, failures=2, tokens=32 * 1000),
        "hard": Posterior(passes=31, failures=1, tokens=32 * 4000),
    }
    counts = draws(posteriors)
    assert counts["standard"] > 0.9 * sum(counts.values())


def test_cost_decides_between_routes_that_pass_alike() -> None:
    alike: dict[Route, Posterior] = {
        r: Posterior(passes=50, failures=2, tokens=52 * 200 * k) for r, k in KS.items()
    }
    counts = draws(alike)
    assert counts["fast"] > 0.7 * 2000 and counts["fast"] > counts["standard"] > counts["hard"]
    assert draws(alike, cost_weight=0.0)["hard"] > 0.2 * 2000  # without cost: a toss-up


def test_posterior_parameters() -> None:
    post = Posterior(passes=3, failures=1, tokens=400)
    assert (post.alpha, post.beta, post.count) == (4.0, 2.0, 4)
    assert post.mean_cost(prior=100) == 100.0
