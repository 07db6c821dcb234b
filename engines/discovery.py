"""Upstreams found in DNS: a `dns+http://host:port` entry is every address `host`
resolves to (A and AAAA; a Kubernetes headless Service: every ready pod), each one an
upstream `http://<address>:<port>` with the entry's weight and slots.

The set is resolved again every `interval_s`, off the loop (getaddrinfo runs in the
loop's default executor). An address that appears joins its pool marked down and takes
traffic once its first health check passes (`admit`: the health checker), as a managed
engine joins only when it is ready. An address that goes is retired: no new requests,
while the ones it runs finish (streams are not cut); it comes back as the same upstream,
slots and all, if its address returns before they end. A lookup that fails or answers
nothing keeps the last known set, and is logged once per change of state, not every
round. A source whose first lookup fails leaves its pool without those upstreams, and
`status()` (shown by /ready) says why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from config.settings import (
    DEFAULT_DISCOVERY_INTERVAL_S,
    DEFAULT_DISCOVERY_TIMEOUT_S,
    DNS_SCHEMES,
    UpstreamSettings,
)
from engines.pool import Upstream, UpstreamPool

logger = logging.getLogger(__name__)

PENDING = "discovered: waiting for its first health check"
# New members of a pool, checked before they take traffic (HealthChecker.admit).
Admit = Callable[[UpstreamPool, Sequence[Upstream]], Awaitable[None]]


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """Every address `host` has now, as IP strings; OSError when it has none."""
        ...


class SystemResolver:
    """The system's resolver (/etc/hosts, then DNS, as getaddrinfo does), in the loop's
    default executor so a slow name server never holds the loop."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return [str(info[4][0]) for info in infos]


def sorted_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Each address once, IPv4 first, in numeric order."""

    def key(address: str) -> tuple[int, bytes, str]:
        ip = ipaddress.ip_address(address.partition("%")[0])  # fe80::1%eth0
        return ip.version, ip.packed, address

    return tuple(sorted(set(addresses), key=key))


def address_url(scheme: str, address: str, port: int) -> str:
    if ":" in address:  # IPv6, in brackets; a zone's "%" escaped (RFC 6874)
        address = "[" + address.replace("%", "%25") + "]"
    return f"{scheme}://{address}:{port}"


@dataclass(eq=False)
class DnsSource:
    """One `dns+http(s)://host:port` entry of one pool, and what it resolved to."""

    pool: UpstreamPool
    url: str
    scheme: str
    host: str
    port: int
    weight: float = 1.0
    max_in_flight: int = 64
    addresses: tuple[str, ...] = ()
    resolved: bool = False  # once any lookup has answered
    error: str | None = None  # why the last lookup failed; None once one answers
    # By address: the current members, and retired ones still running requests.
    members: dict[str, Upstream] = field(default_factory=dict)
    lookup: asyncio.Future[Sequence[str]] | None = None

    @classmethod
    def of(cls, pool: UpstreamPool, settings: UpstreamSettings) -> DnsSource:
        parts = urlsplit(settings.url)
        assert parts.hostname is not None and parts.port is not None  # validated in config
        return cls(
            pool,
            settings.url,
            DNS_SCHEMES[parts.scheme],
            parts.hostname,
            parts.port,
            settings.weight,
            settings.max_in_flight,
        )

    def draining(self) -> int:
        return sum(
            1 for a, u in self.members.items() if a not in self.addresses and u.in_flight > 0
        )

    def status(self) -> dict[str, Any]:
        return {
            "model": self.pool.model,
            "role": self.pool.role,
            "source": self.url,
            "upstreams": [address_url(self.scheme, a, self.port) for a in self.addresses],
            "draining": self.draining(),
            "error": self.error,
        }


class Discovery:
    """Keeps each DNS source's pool in step with what its host resolves to."""

    def __init__(
        self,
        resolver: Resolver,
        sources: Sequence[DnsSource],
        *,
        admit: Admit,
        interval_s: float = DEFAULT_DISCOVERY_INTERVAL_S,
        timeout_s: float = DEFAULT_DISCOVERY_TIMEOUT_S,
    ) -> None:
        self._resolver = resolver
        self.sources = tuple(sources)
        for source in self.sources:
            source.pool.discovered = True
        self._admit = admit
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    def __bool__(self) -> bool:
        return bool(self.sources)

    async def refresh(self) -> None:
        """Resolve every source once and apply the answers; failures are recorded."""
        await asyncio.gather(*(self._refresh(source) for source in self.sources))

    async def _refresh(self, source: DnsSource) -> None:
        try:
            addresses = sorted_addresses(await self._lookup(source))
        except (OSError, UnicodeError) as exc:  # gaierror, TimeoutError; a bad IDNA label
            self._failed(source, _describe(exc))
            return
        if not addresses:
            self._failed(source, "resolved to no address")
            return
        if source.error is not None:
            logger.info("DNS source %s of %s resolves again", source.url, _owner(source))
        source.error = None
        source.resolved = True
        await self._apply(source, addresses)

    async def _lookup(self, source: DnsSource) -> Sequence[str]:
        """One lookup, bounded by timeout_s. A lookup that timed out may still hold an
        executor thread: none is started beside it until it ends."""
        if source.lookup is not None and not source.lookup.done():
            raise TimeoutError("the previous lookup has not ended")
        lookup = asyncio.ensure_future(self._resolver.resolve(source.host, source.port))
        lookup.add_done_callback(_retrieve)
        source.lookup = lookup
        done, _ = await asyncio.wait({lookup}, timeout=self._timeout_s)
        if not done:
            raise TimeoutError(f"no answer within {self._timeout_s:g} s")
        return lookup.result()

    def _failed(self, source: DnsSource, reason: str) -> None:
        if reason != source.error:  # once per change of state, not every round
            logger.warning(
                "DNS source %s of %s: %s; keeping its %d last known upstreams",
                source.url,
                _owner(source),
                reason,
                len(source.addresses),
            )
        source.error = reason

    async def _apply(self, source: DnsSource, addresses: tuple[str, ...]) -> None:
        joined = [a for a in addresses if a not in source.addresses]
        left = [a for a in source.addresses if a not in addresses]
        source.addresses = addresses
        if left:
            source.pool.retire([source.members[a] for a in left])
        new = [self._member(source, a) for a in joined]
        if joined or left:
            logger.info(
                "DNS source %s of %s: %d upstreams (joined: %s; left: %s)",
                source.url,
                _owner(source),
                len(addresses),
                ", ".join(joined) or "none",
                ", ".join(left) or "none",
            )
        if new:
            source.pool.add(new)
            await self._admit(source.pool, new)
        # Retired members are forgotten once their last request ends.
        source.members = {
            a: u for a, u in source.members.items() if a in addresses or u.in_flight > 0
        }

    @staticmethod
    def _member(source: DnsSource, address: str) -> Upstream:
        """The upstream of `address`: a retired one still running requests comes back as
        it is (its slots still count), marked down until it is admitted again."""
        upstream = source.members.get(address)
        if upstream is None:
            upstream = Upstream(
                address_url(source.scheme, address, source.port),
                source.weight,
                source.max_in_flight,
                healthy=False,
                last_error=PENDING,
            )
            source.members[address] = upstream
        else:
            source.pool.mark(upstream, False, PENDING)
        return upstream

    def status(self) -> list[dict[str, Any]]:
        return [source.status() for source in self.sources]

    def start(self) -> None:
        if self.sources:
            self._task = asyncio.create_task(self._run(), name="atlas-dns-discovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for source in self.sources:
            if source.lookup is not None:
                source.lookup.cancel()  # its thread, if any, ends on its own

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.refresh()


def _owner(source: DnsSource) -> str:
    return f"{source.pool.model} ({source.pool.role})"


def _retrieve(lookup: asyncio.Future[Sequence[str]]) -> None:
    """Read a finished lookup's error, so one nobody awaits any more (it timed out) is
    not reported as never retrieved."""
    if not lookup.cancelled():
        lookup.exception()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"did not resolve: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"lookup timed out: {exc}" if str(exc) else "lookup timed out"
    return f"lookup failed: {type(exc).__name__}: {exc}"


def dns_sources(
    pools: Iterable[tuple[UpstreamPool, Sequence[UpstreamSettings]]],
) -> list[DnsSource]:
    """A DnsSource for each `dns+http(s)://` entry of each pool's settings."""
    return [
        DnsSource.of(pool, entry)
        for pool, entries in pools
        for entry in entries
        if entry.discovered
    ]


__all__ = [
    "Admit",
    "Discovery",
    "DnsSource",
    "Resolver",
    "SystemResolver",
    "address_url",
    "dns_sources",
    "sorted_addresses",
]
