"""Engines: everything between the gateway and llama-server.

The public face of the package; other packages import from here:

- the transport seam (`UpstreamTransport`, `RawStream`, `RawReply`) and its aiohttp
  implementation (`UpstreamClient`, `ClientLimits`);
- upstream groups (`Upstream`, `UpstreamPool`), the failover `Dispatcher`, SSE reading
  (`sse_events`) and background `HealthChecker`;
- upstreams found in DNS (`Discovery` over `DnsSource`s, through a `Resolver`: the
  system's, `SystemResolver`, or a test's);
- the domain errors, which know nothing of HTTP status;
- managed llama-server processes (`ManagedEngines`, `ManagedEngine`), installing
  llama-server (`installed_stack`, `add_engines_commands`) and the replay upstream;
- the embedded redis-server of the Redis store (`EmbeddedRedis`), supervised by the
  same generic state machine (`ProcessState`, `ProcessStartError`).

Modules inside the package import their siblings directly (`from engines.pool import
...`), never this module, so the import graph stays free of cycles.

Names are loaded on first use: `import engines.errors` alone stays cheap, and
`from engines import Dispatcher` costs what importing `engines.dispatch` costs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engines.client import ClientLimits, UpstreamClient
    from engines.discovery import Discovery, DnsSource, Resolver, SystemResolver, dns_sources
    from engines.dispatch import Dispatcher, UpstreamReply
    from engines.errors import (
        CapacityExceededError,
        EngineError,
        NoUpstreamConfiguredError,
        QueueFullError,
        UpstreamProtocolError,
        UpstreamRejectedError,
        UpstreamStalledError,
        UpstreamTimeoutError,
        UpstreamUnavailableError,
    )
    from engines.health import HealthChecker
    from engines.install import InstalledStack, add_engines_commands, installed_stack
    from engines.managed import ManagedEngines
    from engines.pool import Upstream, UpstreamPool
    from engines.process import ProcessStartError, ProcessState
    from engines.redis_server import (
        EmbeddedRedis,
        RedisBinaryNotFoundError,
        ping_redis,
        resolve_redis_binary,
        shutdown_redis,
    )
    from engines.replay import ReplayDataset, ReplayRecord, ReplayServer, last_user_text
    from engines.scheduler import ANONYMOUS, Asker, Priority
    from engines.sse import sse_events
    from engines.supervisor import ManagedEngine
    from engines.transport import RawReply, RawStream, UpstreamTransport

# Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    "ClientLimits": "engines.client",
    "UpstreamClient": "engines.client",
    "Discovery": "engines.discovery",
    "DnsSource": "engines.discovery",
    "Resolver": "engines.discovery",
    "SystemResolver": "engines.discovery",
    "dns_sources": "engines.discovery",
    "Dispatcher": "engines.dispatch",
    "UpstreamReply": "engines.dispatch",
    "CapacityExceededError": "engines.errors",
    "EngineError": "engines.errors",
    "NoUpstreamConfiguredError": "engines.errors",
    "QueueFullError": "engines.errors",
    "UpstreamProtocolError": "engines.errors",
    "UpstreamRejectedError": "engines.errors",
    "UpstreamStalledError": "engines.errors",
    "UpstreamTimeoutError": "engines.errors",
    "UpstreamUnavailableError": "engines.errors",
    "HealthChecker": "engines.health",
    "InstalledStack": "engines.install",
    "add_engines_commands": "engines.install",
    "installed_stack": "engines.install",
    "ManagedEngines": "engines.managed",
    "Upstream": "engines.pool",
    "UpstreamPool": "engines.pool",
    "ProcessStartError": "engines.process",
    "ProcessState": "engines.process",
    "EmbeddedRedis": "engines.redis_server",
    "RedisBinaryNotFoundError": "engines.redis_server",
    "ping_redis": "engines.redis_server",
    "resolve_redis_binary": "engines.redis_server",
    "shutdown_redis": "engines.redis_server",
    "ReplayDataset": "engines.replay",
    "ReplayRecord": "engines.replay",
    "ReplayServer": "engines.replay",
    "last_user_text": "engines.replay",
    "sse_events": "engines.sse",
    "ANONYMOUS": "engines.scheduler",
    "Asker": "engines.scheduler",
    "Priority": "engines.scheduler",
    "ManagedEngine": "engines.supervisor",
    "RawReply": "engines.transport",
    "RawStream": "engines.transport",
    "UpstreamTransport": "engines.transport",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups no longer come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ANONYMOUS",
    "Asker",
    "CapacityExceededError",
    "ClientLimits",
    "Discovery",
    "Dispatcher",
    "DnsSource",
    "EmbeddedRedis",
    "EngineError",
    "HealthChecker",
    "InstalledStack",
    "ManagedEngine",
    "ManagedEngines",
    "NoUpstreamConfiguredError",
    "Priority",
    "ProcessStartError",
    "ProcessState",
    "QueueFullError",
    "RawReply",
    "RawStream",
    "RedisBinaryNotFoundError",
    "ReplayDataset",
    "ReplayRecord",
    "ReplayServer",
    "Resolver",
    "SystemResolver",
    "Upstream",
    "UpstreamClient",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRejectedError",
    "UpstreamReply",
    "UpstreamStalledError",
    "UpstreamTimeoutError",
    "UpstreamTransport",
    "UpstreamUnavailableError",
    "add_engines_commands",
    "dns_sources",
    "installed_stack",
    "last_user_text",
    "ping_redis",
    "resolve_redis_binary",
    "shutdown_redis",
    "sse_events",
]
