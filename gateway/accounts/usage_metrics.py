"""All-time usage totals as Prometheus counters, labelled by key id, user id and model
(ids only: never a key's secret).

Prometheus collects synchronously and Redis is read asynchronously, so the collector
serves the snapshot of its last `refresh()`: the /metrics handler awaits `refresh()`
and then renders the registry. The totals are the whole deployment's (they come from
Redis), so every replica exports the same values: aggregate them with max(), not sum().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.accounts.usage_read import UsageCounts, UsageReader, UsageRow

_LABELS = ["key_id", "user_id", "model"]
_PLAIN: tuple[tuple[str, str, Callable[[UsageCounts], int]], ...] = (
    ("atlas_usage_requests", "Requests answered", lambda c: c.requests),
    ("atlas_usage_prompt_tokens", "Prompt tokens of answers returned", lambda c: c.prompt_tokens),
    (
        "atlas_usage_completion_tokens",
        "Completion tokens of answers returned",
        lambda c: c.completion_tokens,
    ),
    (
        "atlas_usage_generated_tokens",
        "Tokens generated: every candidate, test-writing and repair request",
        lambda c: c.generated_tokens,
    ),
    ("atlas_usage_verified", "Answers returned that passed verification", lambda c: c.verified),
)


class UsageCollector(Collector):
    def __init__(self, reader: UsageReader) -> None:
        self._reader = reader
        self._rows: list[UsageRow] = []

    async def refresh(self) -> None:
        self._rows = await self._reader.totals()

    def describe(self) -> list[Metric]:
        return []  # registration must not read Redis

    def collect(self) -> Iterator[Metric]:
        for name, doc, value in _PLAIN:
            family = CounterMetricFamily(name, doc, labels=_LABELS)
            for row in self._rows:
                family.add_metric(_ids(row), value(row.counts))
            yield family
        routes = CounterMetricFamily(
            "atlas_usage_route_requests", "Requests per route", labels=[*_LABELS, "route"]
        )
        ks = CounterMetricFamily(
            "atlas_usage_k_requests", "Requests per candidate count k", labels=[*_LABELS, "k"]
        )
        for row in self._rows:
            for route, n in sorted(row.counts.routes.items()):
                routes.add_metric([*_ids(row), route], n)
            for k, n in sorted(row.counts.k.items()):
                ks.add_metric([*_ids(row), str(k)], n)
        yield routes
        yield ks


def _ids(row: UsageRow) -> list[str]:
    return [row.key_id, row.user_id or "", row.model]
