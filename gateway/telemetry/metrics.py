"""Prometheus metrics, one registry per app (no process-global state)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

RATIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@lru_cache(maxsize=1024)  # called on every upstream request; upstreams are few
def upstream_label(label: str) -> str:
    """An upstream's name on metrics: its own name (a managed engine's), or host[:port]
    of its URL, never the URL's credentials or path."""
    if "://" not in label:
        return label
    parts = urlsplit(label)
    host = parts.hostname or "unknown"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "atlas_requests",
            "HTTP requests answered",
            ["endpoint", "model", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "atlas_request_duration_seconds",
            "Time to the last byte of the response",
            ["endpoint", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "atlas_in_flight_requests", "Requests being served now", registry=self.registry
        )
        self.upstream_requests = Counter(
            "atlas_upstream_requests",
            "Requests sent to upstreams",
            ["model", "upstream", "role", "outcome"],
            registry=self.registry,
        )
        # By role too: one server may be a model's generation and embedding upstream.
        self.upstream_healthy = Gauge(
            "atlas_upstream_healthy",
            "1 when the upstream passed its last health check",
            ["model", "upstream", "role"],
            registry=self.registry,
        )
        self.upstream_in_flight = Gauge(
            "atlas_upstream_in_flight",
            "Requests in flight to the upstream",
            ["model", "upstream", "role"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "atlas_tokens",
            "Tokens in answers returned",
            ["model", "kind"],
            registry=self.registry,
        )
        self.traces_dropped = Counter(
            "atlas_traces_dropped",
            "Request traces dropped unwritten: the buffer was full while Redis was away",
            registry=self.registry,
        )

        self.router = RouterMetrics(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RouterMetrics:
    """The difficulty router's routes and the pattern cache (docs/routing.md)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.routes = Counter(
            "atlas_router_routes",
            "Requests the router sent each way",
            ["model", "route"],
            registry=registry,
        )
        self.difficulty = Histogram(
            "atlas_router_difficulty",
            "Difficulty of routed requests",
            ["model"],
            buckets=RATIO_BUCKETS,
            registry=registry,
        )
        # The bandit's Beta posteriors as last read from Redis (refreshed on /metrics).
        self.posterior = Gauge(
            "atlas_router_posterior",
            "Beta posterior parameter of a route's pass rate, per difficulty bin",
            ["model", "bin", "route", "param"],
            registry=registry,
        )
        self.cache_lookups = Counter(
            "atlas_cache_lookups",
            "Pattern cache lookups: hit, miss, poisoned (failed the request's tests)",
            ["model", "result"],
            registry=registry,
        )
        self.cache_evictions = Counter(
            "atlas_cache_evictions",
            "Pattern cache entries evicted",
            ["model", "reason"],
            registry=registry,
        )
        self.cache_retention = Histogram(
            "atlas_cache_retention",
            "Retention exp(-dt/S) of entries when read",
            ["model"],
            buckets=RATIO_BUCKETS,
            registry=registry,
        )
