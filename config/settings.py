"""Typed, frozen settings for the whole process.

Every struct forbids unknown fields so a typo in the TOML file fails at
start-up with the key's path instead of being silently ignored.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from config.accounts import AccountsSettings
from config.engines import EngineSettings, check_engine_references
from config.lens import LensSettings
from config.redis import RedisSettings
from config.sandbox import SandboxSettings
from config.strategy import RouterSettings, StrategySettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# A client that reads nothing of its answer for this long is dropped (its upstream freed).
DEFAULT_WRITE_TIMEOUT_S = 30.0
DEFAULT_SHUTDOWN_GRACE_S = 15.0
# Deadlines of upstream streams: until the answer's first byte (a stall moves the request
# to another upstream), for all of its headers, and between two chunks.
DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S = 120.0
DEFAULT_STREAM_HEADERS_TIMEOUT_S = 150.0
DEFAULT_STREAM_IDLE_TIMEOUT_S = 300.0
# A key that guards a listener beyond loopback: long enough not to be guessed.
MIN_KEY_CHARS = 32

UpstreamKind = Literal["llama-server", "openai"]
# An upstream URL whose scheme is one of these names a DNS source: every address its
# host resolves to (a Kubernetes headless Service: every ready pod) is one upstream,
# `<http|https>://<address>:<port>`, re-resolved every `discovery_interval_s`.
DNS_SCHEMES = {"dns+http": "http", "dns+https": "https"}
DEFAULT_DISCOVERY_INTERVAL_S = 10.0
DEFAULT_DISCOVERY_TIMEOUT_S = 5.0


def validate_http_url(url: str) -> str:
    """Return the URL without a trailing slash, or raise naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"invalid upstream URL {url!r}: expected http(s)://host[:port] "
            "(or dns+http(s)://host:port for every address of host)"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid upstream URL {url!r}: {exc}") from None
    return url.rstrip("/")


def validate_dns_url(url: str) -> str:
    """A DNS source, `dns+http(s)://host:port`: a host name and a port, nothing else
    (DNS gives addresses, not ports or paths). Returned without a trailing slash."""
    parts = urlsplit(url)
    expected = "expected dns+http://host:port or dns+https://host:port"
    if parts.scheme not in DNS_SCHEMES or not parts.hostname:
        raise ValueError(f"invalid DNS upstream {url!r}: {expected}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid DNS upstream {url!r}: {exc}") from None
    if port is None:
        raise ValueError(f"invalid DNS upstream {url!r}: a port is required ({expected})")
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username is not None:
        raise ValueError(f"invalid DNS upstream {url!r}: no path, query or user ({expected})")
    return url.rstrip("/")


def validate_upstream_url(url: str) -> str:
    """An upstream's URL (http(s)://) or a DNS source (dns+http(s)://), validated."""
    if urlsplit(url).scheme in DNS_SCHEMES:
        return validate_dns_url(url)
    return validate_http_url(url)


class _Frozen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerSettings(_Frozen, frozen=True):
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    master_key: str | None = None
    # Scrapes of /metrics may use this token instead of the master key.
    metrics_token: str | None = None
    # Refuse to listen on a public interface with no key unless told so.
    allow_unauthenticated: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    keepalive_interval_s: float = 10.0
    write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Limits of the HTTP server (gateway/serving.py). A request's line and headers
    # must arrive within header_timeout_s of its first byte (of the connection opening,
    # for the first request) and fit in max_header_bytes and max_headers; its body
    # within body_timeout_s after them. An idle keep-alive connection closes after
    # idle_timeout_s.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    idle_timeout_s: float = 5.0
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    # Peers (IPs or CIDRs) whose X-Forwarded-Proto and X-Forwarded-For are believed: a
    # TLS proxy in front. Empty: those headers are ignored, whoever sends them.
    trusted_proxies: tuple[str, ...] = ()
    # On SIGTERM: answers in flight get this long to finish (gateway/drain.py).
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    # How often glibc is asked for heap it holds free, to hand it back after a burst
    # (gateway/heap_trim.py); 0 turns it off.
    heap_trim_interval_s: float = 5.0
    # Origins whose browser pages may call the API (gateway/http/cors.py), exactly as
    # a browser sends them ("https://app.example.com", "http://localhost:3000"), or
    # only "*" for any. Empty: no CORS headers at all.
    cors_allow_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range 1..65535")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be at least 1024")
        for name in (
            "keepalive_interval_s",
            "write_timeout_s",
            "header_timeout_s",
            "body_timeout_s",
            "shutdown_grace_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.idle_timeout_s < 0 or self.heap_trim_interval_s < 0:
            raise ValueError("idle_timeout_s and heap_trim_interval_s must not be negative")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {proxy!r} is not an IP address or CIDR"
                ) from None
        if self.max_header_bytes < 1024 or self.max_headers < 8:
            raise ValueError("max_header_bytes must be at least 1024 and max_headers at least 8")
        _check_origins(self.cors_allow_origins)


def _check_origins(origins: tuple[str, ...]) -> None:
    if "*" in origins:
        if len(origins) > 1:
            raise ValueError('cors_allow_origins: "*" allows every origin; list it alone')
        return
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            or not origin.isascii()
        ):
            raise ValueError(
                f"cors_allow_origins: {origin!r} is not an origin such as "
                '"https://app.example.com" or "http://localhost:3000" (scheme, host, '
                "optional port; no path)"
            )


class UpstreamClientSettings(_Frozen, frozen=True):
    """Timeouts and pool limits of the one shared HTTP client."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    total_timeout_s: float = 900.0
    stream_first_byte_timeout_s: float = DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S
    stream_headers_timeout_s: float = DEFAULT_STREAM_HEADERS_TIMEOUT_S
    stream_idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_S
    max_connections: int = 512
    keepalive_s: float = 30.0
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    queue_timeout_s: float = 30.0
    max_queue: int = 256
    # Of those, at most this many for one API key (a 429 with Retry-After beyond), so one
    # key's burst leaves room in the queue for the others.
    max_queue_per_key: int = 64
    # DNS sources (dns+http://host:port upstreams) are resolved again this often; one
    # resolution may take discovery_timeout_s before it counts as failed.
    discovery_interval_s: float = DEFAULT_DISCOVERY_INTERVAL_S
    discovery_timeout_s: float = DEFAULT_DISCOVERY_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout_s",
            "read_timeout_s",
            "total_timeout_s",
            "stream_first_byte_timeout_s",
            "stream_headers_timeout_s",
            "stream_idle_timeout_s",
            "health_interval_s",
            "health_timeout_s",
            "discovery_interval_s",
            "discovery_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.stream_headers_timeout_s < self.stream_first_byte_timeout_s:
            raise ValueError(
                "stream_headers_timeout_s must be at least stream_first_byte_timeout_s "
                "(the headers' bound includes the wait for their first byte)"
            )
        if self.max_queue < 0 or self.queue_timeout_s < 0 or self.max_queue_per_key < 0:
            raise ValueError(
                "max_queue, max_queue_per_key and queue_timeout_s must not be negative"
            )


class UpstreamSettings(_Frozen, frozen=True):
    # http(s)://host[:port], or dns+http(s)://host:port for every address of `host`
    # (each of them gets this entry's weight and max_in_flight).
    url: str
    weight: float = 1.0
    # Requests sent at once to this upstream; llama-server's --parallel slots.
    max_in_flight: int = 64

    def __post_init__(self) -> None:
        validate_upstream_url(self.url)
        if self.weight <= 0:
            raise ValueError("weight must be positive")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")

    @property
    def discovered(self) -> bool:
        """True for a DNS source, whose upstreams are the addresses its host resolves to."""
        return urlsplit(self.url).scheme in DNS_SCHEMES


class ModelSettings(_Frozen, frozen=True):
    name: str
    upstreams: tuple[str | UpstreamSettings, ...] = ()
    embedding_upstreams: tuple[str | UpstreamSettings, ...] = ()
    kind: UpstreamKind = "llama-server"
    # "replay" answers from recorded samples in `dataset` (JSON Lines) instead of upstreams.
    engine: Literal["http", "replay"] = "http"
    dataset: str | None = None
    # Model name sent upstream, when it differs from the public name.
    upstream_model: str | None = None
    # Sent as a bearer token to upstreams that need one (hosted OpenAI-compatible APIs).
    api_key: str | None = None
    health_path: str = "/health"
    # [models.strategy] type = "router" (the default) | "pass_through" | "best_of_k";
    # see config/strategy.py and docs/routing.md.
    strategy: StrategySettings = msgspec.field(default_factory=RouterSettings)
    # Names of [[engines]] (managed llama-server processes) serving this model, beside
    # or instead of upstream URLs.
    engines: tuple[str, ...] = ()
    embedding_engines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("model name must not be empty")
        for entry in (*self.upstreams, *self.embedding_upstreams):
            if isinstance(entry, str):
                validate_upstream_url(entry)
        if self.engine == "replay":
            if not self.dataset:
                raise ValueError(f"model {self.name!r} uses engine = 'replay' but has no dataset")
        elif not (
            self.upstreams or self.embedding_upstreams or self.engines or self.embedding_engines
        ):
            raise ValueError(f"model {self.name!r} has no upstreams and no engines")

    def generation_upstreams(self) -> tuple[UpstreamSettings, ...]:
        return _normalise(self.upstreams)

    def embedding_upstream_settings(self) -> tuple[UpstreamSettings, ...]:
        return _normalise(self.embedding_upstreams)


def _normalise(entries: tuple[str | UpstreamSettings, ...]) -> tuple[UpstreamSettings, ...]:
    return tuple(
        UpstreamSettings(url=validate_upstream_url(e))
        if isinstance(e, str)
        else msgspec.structs.replace(e, url=validate_upstream_url(e.url))
        for e in entries
    )


class Settings(_Frozen, frozen=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    upstream: UpstreamClientSettings = msgspec.field(default_factory=UpstreamClientSettings)
    sandbox: SandboxSettings = msgspec.field(default_factory=SandboxSettings)
    lens: LensSettings = msgspec.field(default_factory=LensSettings)
    # The process's one Redis store (config/redis.py).
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    # Users, API keys, admin sessions (config/accounts.py), stored in `redis`.
    accounts: AccountsSettings = msgspec.field(default_factory=AccountsSettings)
    models: tuple[ModelSettings, ...] = ()
    # llama-server processes ATLAS starts and owns; models name them in `engines`.
    engines: tuple[EngineSettings, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for model in self.models:
            if model.name in seen:
                raise ValueError(f"duplicate model name {model.name!r} in models")
            seen.add(model.name)
        check_engine_references(
            self.engines, ((m.name, m.engines, m.embedding_engines) for m in self.models)
        )
        _check_keys(self.server)
        _adopt_lens_redis_url(self)

    def model(self, name: str) -> ModelSettings | None:
        for model in self.models:
            if model.name == name:
                return model
        return None


def _adopt_lens_redis_url(settings: Settings) -> None:
    """The deprecated `[lens] redis_url` names the shared store unless `[redis] url` does.

    Done here rather than in the loader's legacy step so settings built from data alone
    (tests, benchmarks) follow the same rule; `redis.url` given too wins, as
    ATLAS_REDIS_URL (now `redis.url`) always won over a file's `lens.redis_url`."""
    if settings.lens.redis_url and settings.redis.url is None:
        store = msgspec.structs.replace(settings.redis, url=settings.lens.redis_url)
        msgspec.structs.force_setattr(settings, "redis", store)


def _check_keys(server: ServerSettings) -> None:
    """Beyond loopback: a master key unless told otherwise, and no weak key."""
    if _is_loopback(server.host):
        return
    if not server.master_key and not server.allow_unauthenticated:
        raise ValueError(
            f"server.master_key (or ATLAS_MASTER_KEY) is required when listening on "
            f"{server.host!r}; set server.allow_unauthenticated = true to override"
        )
    for key, value in (
        ("server.master_key (or ATLAS_MASTER_KEY)", server.master_key),
        ("server.metrics_token (or ATLAS_METRICS_TOKEN)", server.metrics_token),
    ):
        if value is not None and _weak(value):
            raise ValueError(
                f"{key} is too weak to listen on {server.host!r}: it needs at least "
                f"{MIN_KEY_CHARS} characters and no whitespace (for example the output "
                f"of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )


def _weak(key: str) -> bool:
    return len(key) < MIN_KEY_CHARS or any(c.isspace() for c in key)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
