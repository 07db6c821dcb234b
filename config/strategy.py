"""How a model answers: one tagged `[models.strategy]` table (`type = "..."`).

Variants, TensorZero style: `pass_through` forwards each request to one upstream;
`best_of_k` generates k candidates, verifies them in the sandbox and returns the best;
`router` (the default) picks k per request by difficulty and a bandit, and serves
verified answers again from a pattern cache.
A client may force best-of-k on any model ("atlas": {"k": n} or x-atlas-k), up to the
strategy's `max_k`. Imports nothing of ATLAS.
"""

from __future__ import annotations

import msgspec

MAX_K = 128
MAX_REPAIR_ROUNDS = 5


class PassThroughSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="pass_through",
):
    """Forward each request as it is, unless the client forces best-of-k."""

    # Cap for a client-forced k ("atlas": {"k": n} or x-atlas-k); 1 forbids forcing.
    max_k: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.max_k <= MAX_K:
            raise ValueError(f"max_k must be between 1 and {MAX_K}")


class BestOfKSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="best_of_k",
):
    """How many candidates to generate and how, for one model."""

    k: int = 5  # for requests that do not ask; 1 means pass-through unless forced
    # Cap for the per-request override ("atlas": {"k": n} or the x-atlas-k header).
    max_k: int = 20
    # Candidate i gets seed seed_base + i; a client-supplied seed replaces the base.
    seed_base: int = 0
    temperature_small_k: float = 0.6  # used when k <= 5
    temperature_large_k: float = 0.8
    # Model calls asking for test cases when neither the request nor the prompt has
    # any; 0 means automatic: k // 4, at least 2 and at most 10.
    test_requests: int = 0
    # Rounds of self-repair when no candidate passes every trusted test: the most
    # promising candidates go back to the model with the jail's failing test and error.
    # A request may ask for fewer or more ("atlas": {"repair": n}, up to 5).
    # With trusted tests, model-written tests are asked for only when at least this many
    # candidates pass them all (0: never), to rank the tie by agreement.
    tie_tests_from: int = 3
    # Candidates not yet started once the search has run this many times as long as the
    # client's own candidate took are skipped (0: no limit): an IDE user is waiting.
    time_budget: float = 1.5
    # ... and never less than this: a wave's verification (0.1 s or more in the jail)
    # would otherwise spend the whole budget of an answer that took milliseconds.
    time_budget_min_s: float = 1.0
    repair_rounds: int = 1
    repair_candidates: int = 2  # candidates repaired per round
    # k is a ceiling: the first wave has at most this many candidates (the client's own
    # first); more waves, each as large as the free slots, only while no candidate
    # passes every trusted test (without trusted tests: while candidates disagree).
    first_wave: int = 2
    # An early stop needs this many candidates that pass every trusted test and return
    # the same on inputs derived from the examples (1: the first to pass stops). Two make
    # one lucky pass of a few examples no longer enough; measured (docs/benchmarks.md):
    # +2 of 164 on codet-b at k=10 for 24 % more candidates, nothing live on MBPP for
    # 28 % more time (the time budget ends the waves before a second pass comes), so a
    # setting for those who trade latency for it, not the default.
    early_stop_quorum: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.first_wave <= MAX_K:
            raise ValueError(f"first_wave must be between 1 and {MAX_K}")
        if not 1 <= self.early_stop_quorum <= MAX_K:
            raise ValueError(f"early_stop_quorum must be between 1 and {MAX_K}")
        if self.time_budget < 0:
            raise ValueError("time_budget must be at least 0")
        if self.time_budget_min_s < 0:
            raise ValueError("time_budget_min_s must be at least 0")
        if self.tie_tests_from < 0:
            raise ValueError("tie_tests_from must be at least 0")
        if not 0 <= self.repair_rounds <= MAX_REPAIR_ROUNDS:
            raise ValueError(f"repair_rounds must be between 0 and {MAX_REPAIR_ROUNDS}")
        if not 1 <= self.repair_candidates <= MAX_K:
            raise ValueError(f"repair_candidates must be between 1 and {MAX_K}")
        if not 1 <= self.k <= self.max_k:
            raise ValueError("k must be between 1 and max_k")
        if self.max_k > MAX_K:
            raise ValueError(f"max_k must be at most {MAX_K}")
        if not 0 <= self.test_requests <= MAX_K:
            raise ValueError(f"test_requests must be between 0 and {MAX_K}")

    def temperature(self, k: int) -> float:
        return self.temperature_small_k if k <= 5 else self.temperature_large_k

    def test_request_count(self, k: int) -> int:
        return self.test_requests or min(10, max(2, k // 4))


class RouteKs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Candidates per route (CACHE_HIT is always 0)."""

    fast: int = 1
    standard: int = 5
    hard: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.fast <= self.standard <= self.hard <= MAX_K:
            raise ValueError(f"route k must rise fast <= standard <= hard, within 1..{MAX_K}")


class DifficultyWeights(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Weights of the four difficulty signals (docs/routing.md); normalised by their sum."""

    familiarity: float = 0.30
    verifiability: float = 0.25
    complexity: float = 0.20
    lens: float = 0.25

    def __post_init__(self) -> None:
        values = (self.familiarity, self.verifiability, self.complexity, self.lens)
        if min(values) < 0 or sum(values) <= 0:
            raise ValueError("difficulty weights must be at least 0 and not all 0")


class PatternCacheSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The verified pattern cache (Redis): only answers that passed their trusted tests."""

    enabled: bool = True
    capacity: int = 256  # entries per scope (tenant, or the shared scope)
    # Ebbinghaus: retention R = exp(-dt / S); S starts here and grows on each reuse.
    initial_strength_s: float = 7 * 24 * 3600.0
    reuse_growth: float = 2.0
    min_retention: float = 0.05  # entries below it are evicted
    # Tenants (API key owners) whose entries form one shared scope, set by an admin.
    shared_tenants: tuple[str, ...] = ()
    # Strategy hints: verified answers to similar problems of the same scope, added to
    # the system message of a routed search's candidates (docs/routing.md). A request
    # overrides it with "atlas": {"hints": true|false}.
    hints: bool = False
    hint_budget_tokens: int = 300  # the hints' text, estimated at 4 characters a token
    # Near matches below this similarity (cosine of embeddings, else the word-set
    # sketch's Jaccard estimate) are no hints.
    hint_min_similarity: float = 0.5
    max_hints: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= 100_000:
            raise ValueError("capacity must be between 1 and 100000")
        if self.initial_strength_s <= 0:
            raise ValueError("initial_strength_s must be above 0")
        if self.reuse_growth < 1:
            raise ValueError("reuse_growth must be at least 1")
        if not 0 <= self.min_retention < 1:
            raise ValueError("min_retention must be in [0, 1)")
        if not 1 <= self.max_hints <= 10:
            raise ValueError("max_hints must be between 1 and 10")
        if not 50 <= self.hint_budget_tokens <= 8192:
            raise ValueError("hint_budget_tokens must be between 50 and 8192")
        if not 0 <= self.hint_min_similarity <= 1:
            raise ValueError("hint_min_similarity must be in [0, 1]")


class RouterSettings(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
    tag="router",
):
    """Code requests with trusted tests (request tests or prompt examples) get a route
    (cache, fast, standard, hard) by difficulty and a Thompson-sampling bandit; the rest
    pass through, unless the client forces k (docs/routing.md)."""

    routes: RouteKs = msgspec.field(default_factory=RouteKs)
    weights: DifficultyWeights = msgspec.field(default_factory=DifficultyWeights)
    bins: int = 4  # difficulty bins, each with its own posteriors
    # Score of a route: a posterior sample of its pass rate minus this times its mean
    # generated tokens over the costliest route's.
    cost_weight: float = 0.15
    prior_tokens: int = 256  # a candidate's generated tokens before any is seen
    # No candidate passed the trusted tests: add the next route's extra candidates.
    escalate: bool = True
    cache: PatternCacheSettings = msgspec.field(default_factory=PatternCacheSettings)
    # best-of-k's own settings for the routed requests (and a client-forced k).
    best_of_k: BestOfKSettings = msgspec.field(default_factory=BestOfKSettings)

    def __post_init__(self) -> None:
        if not 1 <= self.bins <= 20:
            raise ValueError("bins must be between 1 and 20")
        if self.cost_weight < 0:
            raise ValueError("cost_weight must be at least 0")
        if self.prior_tokens < 1:
            raise ValueError("prior_tokens must be at least 1")
        if self.routes.hard > self.best_of_k.max_k:
            raise ValueError("routes.hard must be at most best_of_k.max_k")


StrategySettings = PassThroughSettings | BestOfKSettings | RouterSettings
STRATEGY_TYPES: tuple[str, ...] = tuple(
    sorted(
        str(c.__struct_config__.tag) for c in (PassThroughSettings, BestOfKSettings, RouterSettings)
    )
)


def best_of_k_settings(strategy: StrategySettings) -> BestOfKSettings:
    """The best-of-k settings a request runs under when it gets k > 1.

    For pass_through that is only a client-forced k: best-of-k's defaults with k = 1
    (the model's own default stays pass-through) and the strategy's cap.
    """
    if isinstance(strategy, BestOfKSettings):
        return strategy
    if isinstance(strategy, RouterSettings):
        return strategy.best_of_k
    return BestOfKSettings(k=1, max_k=strategy.max_k)


__all__ = [
    "MAX_K",
    "MAX_REPAIR_ROUNDS",
    "STRATEGY_TYPES",
    "BestOfKSettings",
    "DifficultyWeights",
    "PassThroughSettings",
    "PatternCacheSettings",
    "RouteKs",
    "RouterSettings",
    "StrategySettings",
    "best_of_k_settings",
]
