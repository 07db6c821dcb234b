"""Typed, frozen settings for the whole process.

Every struct forbids unknown fields so a typo in the TOML file fails at
start-up with the key's path instead of being silently ignored.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from config.engines import EngineSettings, check_engine_references

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

UpstreamKind = Literal["llama-server", "openai"]
SandboxBackend = Literal["nsjail", "unsafe-subprocess", "disabled"]


def validate_http_url(url: str) -> str:
    """Return the URL without a trailing slash, or raise naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid upstream URL {url!r}: expected http(s)://host[:port]")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid upstream URL {url!r}: {exc}") from None
    return url.rstrip("/")


class _Frozen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ServerSettings(_Frozen, frozen=True):
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    master_key: str | None = None
    # Refuse to listen on a public interface with no key unless told so.
    allow_unauthenticated: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    keepalive_interval_s: float = 10.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range 1..65535")
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be at least 1024")
        if self.keepalive_interval_s <= 0:
            raise ValueError("keepalive_interval_s must be positive")


class UpstreamClientSettings(_Frozen, frozen=True):
    """Timeouts and pool limits of the one shared HTTP client."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    total_timeout_s: float = 900.0
    max_connections: int = 512
    keepalive_s: float = 30.0
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    queue_timeout_s: float = 30.0
    max_queue: int = 256

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout_s",
            "read_timeout_s",
            "total_timeout_s",
            "health_interval_s",
            "health_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_queue < 0 or self.queue_timeout_s < 0:
            raise ValueError("max_queue and queue_timeout_s must not be negative")


class UpstreamSettings(_Frozen, frozen=True):
    url: str
    weight: float = 1.0
    # Requests sent at once to this upstream; llama-server's --parallel slots.
    max_in_flight: int = 64

    def __post_init__(self) -> None:
        validate_http_url(self.url)
        if self.weight <= 0:
            raise ValueError("weight must be positive")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


class BestOfKSettings(_Frozen, frozen=True):
    """How many candidates to generate and how, for one model."""

    # k for requests that do not ask; 1 means plain pass-through.
    k: int = 1
    # Cap for the per-request override ("atlas": {"k": n} or the x-atlas-k header).
    max_k: int = 20
    # Candidate i gets seed seed_base + i; a client-supplied seed replaces the base.
    seed_base: int = 0
    temperature_small_k: float = 0.6  # used when k <= 5
    temperature_large_k: float = 0.8
    # Model calls asking for test cases when neither the request nor the prompt has
    # any; 0 means automatic: k // 4, at least 2 and at most 10.
    test_requests: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.max_k:
            raise ValueError("k must be between 1 and max_k")
        if self.max_k > 128:
            raise ValueError("max_k must be at most 128")
        if not 0 <= self.test_requests <= 128:
            raise ValueError("test_requests must be between 0 and 128")

    def temperature(self, k: int) -> float:
        return self.temperature_small_k if k <= 5 else self.temperature_large_k

    def test_request_count(self, k: int) -> int:
        return self.test_requests or min(10, max(2, k // 4))


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
    best_of_k: BestOfKSettings = msgspec.field(default_factory=BestOfKSettings)
    # Names of [[engines]] (managed llama-server processes) serving this model, beside
    # or instead of upstream URLs.
    engines: tuple[str, ...] = ()
    embedding_engines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("model name must not be empty")
        for entry in (*self.upstreams, *self.embedding_upstreams):
            if isinstance(entry, str):
                validate_http_url(entry)
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
        UpstreamSettings(url=validate_http_url(e))
        if isinstance(e, str)
        else msgspec.structs.replace(e, url=validate_http_url(e.url))
        for e in entries
    )


class SandboxSettings(_Frozen, frozen=True):
    backend: SandboxBackend = "nsjail"
    max_concurrency: int = 0  # 0 means one per CPU core
    # Per candidate run. Tests of one function take milliseconds; a candidate stuck in a
    # loop should not hold a sandbox slot for long (HumanEval's own limit is 3 s).
    wall_time_s: float = 5.0
    cpu_time_s: int = 3
    memory_mb: int = 512
    # One test inside a run: a candidate hanging on one input fails only that test.
    per_test_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_concurrency < 0:
            raise ValueError("max_concurrency must not be negative")


class LensConfig(_Frozen, frozen=True):
    """The Geometric Lens: ranks verified candidates and learns from their verdicts."""

    enabled: bool = False
    redis_url: str | None = None  # or ATLAS_REDIS_URL; required when enabled
    checkpoint_dir: str = "~/.cache/atlas/lens"
    dim: int = 896  # the embedding width of the models' embedding upstreams
    train_every: int = 200  # new examples that start a background training run
    record: bool = True  # store verified candidates as training examples
    generated_weight: float = 0.3  # weight of verdicts from model-written tests

    def __post_init__(self) -> None:
        if self.enabled and not self.redis_url:
            raise ValueError("redis_url (or ATLAS_REDIS_URL) is required when enabled")
        if self.dim < 1 or self.train_every < 1:
            raise ValueError("dim and train_every must be positive")
        if not 0 <= self.generated_weight <= 1:
            raise ValueError("generated_weight must be between 0 and 1")


class Settings(_Frozen, frozen=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    upstream: UpstreamClientSettings = msgspec.field(default_factory=UpstreamClientSettings)
    sandbox: SandboxSettings = msgspec.field(default_factory=SandboxSettings)
    lens: LensConfig = msgspec.field(default_factory=LensConfig)
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
        if (
            not self.server.master_key
            and not self.server.allow_unauthenticated
            and not _is_loopback(self.server.host)
        ):
            raise ValueError(
                f"server.master_key (or ATLAS_MASTER_KEY) is required when listening on "
                f"{self.server.host!r}; set server.allow_unauthenticated = true to override"
            )

    def model(self, name: str) -> ModelSettings | None:
        for model in self.models:
            if model.name == name:
                return model
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
