"""Discovery over a real pool and health checker: the pool follows what a name resolves
to. The resolver is a double of the DNS (an external service); the system's resolver is
exercised for real on names this machine knows without a name server."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

import pytest

from config import UpstreamSettings
from engines.discovery import (
    PENDING,
    Discovery,
    DnsSource,
    SystemResolver,
    address_url,
    dns_sources,
    sorted_addresses,
)
from engines.health import HealthChecker
from engines.pool import Upstream, UpstreamPool
from tests.unit.engines.test_health import Health

pytestmark = pytest.mark.timeout(10)

SOURCE = "dns+http://llama.svc:8080"


class Names:
    """A name server double: the addresses it answers now, or the error it raises."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.error: OSError | None = None
        self.hang = False
        self.asked: list[tuple[str, int]] = []
        self.lookups: asyncio.Queue[None] = asyncio.Queue()  # one item per lookup begun

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        self.lookups.put_nowait(None)
        if self.hang:
            await asyncio.sleep(60)
        if self.error is not None:
            raise self.error
        return list(self.addresses)


def discovery(
    names: Names,
    *,
    status: int | None = 200,
    health_path: str = "/health",
    settings: UpstreamSettings | None = None,
    timeout_s: float = 1.0,
) -> tuple[Discovery, UpstreamPool, Health]:
    pool = UpstreamPool("m", [])
    transport = Health(status)
    health = HealthChecker(transport, [(pool, health_path)])
    entry = settings or UpstreamSettings(url=SOURCE, max_in_flight=2)
    sources = dns_sources([(pool, (UpstreamSettings(url="http://ignored:1"), entry))])
    return (
        Discovery(names, sources, admit=health.admit, interval_s=0.05, timeout_s=timeout_s),
        pool,
        transport,
    )


def urls(pool: UpstreamPool) -> list[str]:
    return [u.url for u in pool.upstreams]


async def test_each_address_is_an_upstream_with_the_entry_settings() -> None:
    names = Names("10.0.0.7", "10.0.0.5", "10.0.0.7", "fd00::1")
    found, pool, transport = discovery(
        names, settings=UpstreamSettings(url=SOURCE, weight=2.0, max_in_flight=3)
    )
    await found.refresh()
    assert names.asked == [("llama.svc", 8080)]
    assert urls(pool) == ["http://10.0.0.5:8080", "http://10.0.0.7:8080", "http://[fd00::1]:8080"]
    assert all((u.weight, u.max_in_flight, u.healthy) == (2.0, 3, True) for u in pool.upstreams)
    assert sorted(transport.urls) == sorted(u + "/health" for u in urls(pool))  # admitted


async def test_new_upstreams_take_no_traffic_before_their_health_check_passes() -> None:
    found, pool, _ = discovery(Names("10.0.0.5"), status=503)
    await found.refresh()
    [upstream] = pool.upstreams
    assert upstream.healthy is False and upstream.last_error == "health check answered 503"
    assert pool.try_acquire() is None


async def test_without_a_health_path_new_upstreams_are_up_at_once() -> None:
    found, pool, transport = discovery(Names("10.0.0.5"), health_path="")
    await found.refresh()
    assert [u.healthy for u in pool.upstreams] == [True] and transport.urls == []


async def test_a_member_that_leaves_finishes_its_requests_and_gets_no_new_ones() -> None:
    names = Names("10.0.0.5", "10.0.0.6")
    found, pool, _ = discovery(names)
    await found.refresh()
    a, _ = pool.upstreams
    held = pool.try_acquire()
    assert held is a
    names.addresses = ["10.0.0.5"]
    await found.refresh()
    assert pool.upstreams == (a,) and found.status()[0]["draining"] == 0  # idle: gone
    names.addresses = ["10.0.0.6"]
    await found.refresh()
    [b] = pool.upstreams
    assert b.url == "http://10.0.0.6:8080" and a.in_flight == 1
    assert found.status()[0]["draining"] == 1
    assert [pool.try_acquire(), pool.try_acquire(), pool.try_acquire()] == [b, b, None]
    pool.release(a)  # the request it ran ends as ever
    await found.refresh()
    assert found.status()[0]["draining"] == 0 and list(found.sources[0].members) == ["10.0.0.6"]


async def test_an_address_that_returns_while_draining_keeps_its_slots() -> None:
    names = Names("10.0.0.5")
    found, pool, _ = discovery(names)
    await found.refresh()
    [a] = pool.upstreams
    assert pool.try_acquire() is a
    names.addresses = ["10.0.0.6"]
    await found.refresh()
    names.addresses = ["10.0.0.5", "10.0.0.6"]
    await found.refresh()
    assert pool.upstreams[1] is a and a.in_flight == 1 and a.healthy is True


async def test_a_waiter_gets_a_slot_on_an_upstream_that_joins() -> None:
    names = Names("10.0.0.5")
    found, pool, _ = discovery(names, settings=UpstreamSettings(url=SOURCE, max_in_flight=1))
    await found.refresh()
    assert pool.try_acquire() is not None
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    names.addresses = ["10.0.0.5", "10.0.0.6"]
    await found.refresh()
    assert (await asyncio.wait_for(waiter, 1)).url == "http://10.0.0.6:8080"


async def test_a_failed_lookup_keeps_the_last_set_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = Names("10.0.0.5")
    found, pool, _ = discovery(names)
    await found.refresh()
    names.error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with caplog.at_level(logging.WARNING, logger="engines.discovery"):
        for _ in range(3):
            await found.refresh()
    assert urls(pool) == ["http://10.0.0.5:8080"]
    assert [r.getMessage() for r in caplog.records] == [
        f"DNS source {SOURCE} of m (generation): did not resolve: Name or service not known; "
        "keeping its 1 last known upstreams"
    ]
    assert found.status()[0]["error"] == "did not resolve: Name or service not known"
    names.error = None
    names.addresses = []
    await found.refresh()  # an empty answer is no answer: the set stays
    assert urls(pool) == ["http://10.0.0.5:8080"]
    assert found.status()[0]["error"] == "resolved to no address"
    names.addresses = ["10.0.0.5"]
    await found.refresh()
    assert found.status()[0]["error"] is None


async def test_a_first_lookup_that_fails_leaves_the_pool_empty_and_says_why() -> None:
    names = Names()
    names.error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    found, pool, _ = discovery(names)
    await found.refresh()
    assert pool.upstreams == ()
    assert found.status() == [
        {
            "model": "m",
            "role": "generation",
            "source": SOURCE,
            "upstreams": [],
            "draining": 0,
            "error": "did not resolve: Name or service not known",
        }
    ]


async def test_a_hung_lookup_times_out_and_none_starts_beside_it() -> None:
    names = Names("10.0.0.5")
    found, pool, _ = discovery(names, timeout_s=0.05)
    await found.refresh()
    names.hang = True
    await found.refresh()
    await found.refresh()
    assert len(names.asked) == 2  # the third round found the second still running
    assert found.status()[0]["error"] == "lookup timed out: the previous lookup has not ended"
    assert urls(pool) == ["http://10.0.0.5:8080"]
    await found.stop()


async def test_the_background_task_follows_the_name() -> None:
    names = Names("10.0.0.5")
    found, pool, _ = discovery(names)
    found.start()
    try:
        names.addresses = ["10.0.0.6"]
        while not names.lookups.empty():
            names.lookups.get_nowait()
        async with asyncio.timeout(2):
            await names.lookups.get()  # a lookup begun after the change,
            await names.lookups.get()  # and applied before the next one began
        assert urls(pool) == ["http://10.0.0.6:8080"]
    finally:
        await found.stop()


async def test_the_system_resolver_answers_for_localhost_and_literals() -> None:
    resolver = SystemResolver()
    assert "127.0.0.1" in sorted_addresses(await resolver.resolve("localhost", 8080))
    assert sorted_addresses(await resolver.resolve("127.0.0.2", 8080)) == ("127.0.0.2",)


async def test_discovery_over_the_system_resolver() -> None:
    pool = UpstreamPool("m", [])
    health = HealthChecker(Health(200), [(pool, "/health")])
    entries = (UpstreamSettings(url="dns+http://localhost:8080"),)
    found = Discovery(SystemResolver(), dns_sources([(pool, entries)]), admit=health.admit)
    await found.refresh()
    assert "http://127.0.0.1:8080" in urls(pool)
    # A name no lookup can take (an empty label) is a failed lookup, not a crash.
    broken = dns_sources([(pool, (UpstreamSettings(url="dns+http://a..b:8080"),))])
    found = Discovery(SystemResolver(), broken, admit=health.admit)
    await found.refresh()
    assert (found.status()[0]["error"] or "").startswith("lookup failed: UnicodeError")


def test_addresses_sort_ipv4_first_numerically_and_once() -> None:
    assert sorted_addresses(["10.0.0.10", "::1", "10.0.0.9", "10.0.0.10", "fe80::1%eth0"]) == (
        "10.0.0.9",
        "10.0.0.10",
        "::1",
        "fe80::1%eth0",
    )
    assert address_url("https", "fe80::1%eth0", 443) == "https://[fe80::1%25eth0]:443"


def test_only_dns_entries_are_sources() -> None:
    pool = UpstreamPool("m", [Upstream("http://a:1")])
    [source] = dns_sources(
        [(pool, (UpstreamSettings(url="http://a:1"), UpstreamSettings(url="dns+https://b:9")))]
    )
    assert isinstance(source, DnsSource)
    assert (source.scheme, source.host, source.port) == ("https", "b", 9)
    assert PENDING.startswith("discovered")
