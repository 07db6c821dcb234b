"""Settings of the llama-server processes ATLAS starts and owns ("managed engines").

Engines are a top-level list (`[[engines]]`), and a model names the engines that serve
it (`engines = ["coder"]`, `embedding_engines = ["coder-embed"]`), beside or instead of
`upstreams` URLs. A process is not a public model name: two model names (say, with
different best-of-k settings) can share one engine, and one embedding sidecar can serve
several models. Imports nothing of ATLAS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol

import msgspec

EngineRole = Literal["generation", "embedding"]
Pooling = Literal["none", "mean", "cls", "last", "rank"]

DEFAULT_START_TIMEOUT_S = 180.0
DEFAULT_STOP_GRACE_S = 10.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Never on a generation engine: in the original deployment it silently turned
# speculative decoding off (0 % draft acceptance).
EMBEDDING_FLAGS = frozenset({"--embedding", "--embeddings", "--pooling"})
# Set from the settings' own keys; in extra_args they would fight them.
OWNED_FLAGS = frozenset({"-m", "--model", "-md", "--model-draft", "--host", "--port", "--api-key"})


class SupervisionSettings(Protocol):
    """The supervision fields that engine and Redis settings share."""

    @property
    def start_timeout_s(self) -> float: ...
    @property
    def stop_grace_s(self) -> float: ...
    @property
    def restart_backoff_s(self) -> float: ...
    @property
    def restart_backoff_max_s(self) -> float: ...
    @property
    def max_restarts(self) -> int: ...
    @property
    def restart_window_s(self) -> float: ...


def check_supervision(settings: SupervisionSettings) -> None:
    """The supervision fields every supervised process has ([[engines]], [redis])."""
    for key in ("start_timeout_s", "restart_backoff_s", "restart_window_s"):
        if getattr(settings, key) <= 0:
            raise ValueError(f"{key}: must be positive")
    if settings.stop_grace_s < 0 or settings.max_restarts < 0:
        raise ValueError("stop_grace_s and max_restarts: must not be negative")


class EngineSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One llama-server process. Paths are used as given (relative to the working dir)."""

    name: str
    role: EngineRole = "generation"
    # None: the binary `atlas engines install` built, else `llama-server` on PATH.
    binary: str | None = None
    model: str
    draft_model: str | None = None
    spec_draft_max: int | None = None  # None: llama-server's default
    spec_draft_min: int | None = None
    parallel: int = 2
    ctx_size: int = 8192  # shared by the parallel slots
    threads: int | None = None  # None: llama-server's default (all cores)
    gpu_layers: int | None = None  # None: llama-server's default
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free loopback port picked at each start
    pooling: Pooling | None = None  # embedding engines only
    extra_args: tuple[str, ...] = ()
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    stop_grace_s: float = DEFAULT_STOP_GRACE_S
    restart_backoff_s: float = 1.0  # doubled after each crash ...
    restart_backoff_max_s: float = 30.0  # ... up to this
    # More than max_restarts crashes within restart_window_s: the engine is failed.
    max_restarts: int = 5
    restart_window_s: float = 300.0
    log_lines: int = 500  # output lines kept for the admin UI and error messages

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"name: {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if not self.model.strip():
            raise ValueError(f"model: engine {self.name!r} needs a model file")
        self._check_role()
        self._check_numbers()
        owned = sorted(OWNED_FLAGS & {a.split("=", 1)[0] for a in self.extra_args})
        if owned:
            raise ValueError(
                f"extra_args: {', '.join(owned)} of engine {self.name!r}: set from the "
                "engine's own keys (model, draft_model, host, port), not extra_args"
            )

    def _check_role(self) -> None:
        if self.role == "embedding":
            for key in ("draft_model", "spec_draft_max", "spec_draft_min"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"{key}: engine {self.name!r} has role = 'embedding', which does "
                        "no generation and takes no draft model"
                    )
            return
        if self.pooling is not None:
            raise ValueError(
                f"pooling: engine {self.name!r} is a generation engine; pooling applies "
                "to role = 'embedding' only"
            )
        wanted = sorted(EMBEDDING_FLAGS & {a.split("=", 1)[0] for a in self.extra_args})
        if wanted:
            raise ValueError(
                f"extra_args: {', '.join(wanted)} on generation engine {self.name!r}: "
                "embeddings on a generation server silently disable speculative decoding; "
                "add a separate engine with role = 'embedding'"
            )

    def _check_numbers(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port: {self.port} is out of range 0..65535")
        for key in ("parallel", "ctx_size", "log_lines"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be at least 1")
        for key in ("spec_draft_max", "spec_draft_min", "threads"):
            value = getattr(self, key)
            if value is not None and value < (1 if key == "threads" else 0):
                raise ValueError(f"{key}: {value} is too small")
        if (
            self.spec_draft_max is not None
            and self.spec_draft_min is not None
            and self.spec_draft_min > self.spec_draft_max
        ):
            raise ValueError("spec_draft_min: must not exceed spec_draft_max")
        if (self.spec_draft_max is not None or self.spec_draft_min is not None) and (
            self.draft_model is None
        ):
            raise ValueError(
                f"spec_draft_max: engine {self.name!r} sets draft tokens but no draft_model"
            )
        check_supervision(self)
        if self.restart_backoff_max_s < self.restart_backoff_s:
            raise ValueError("restart_backoff_max_s: must be at least restart_backoff_s")


def check_engine_references(
    engines: Sequence[EngineSettings],
    models: Iterable[tuple[str, Sequence[str], Sequence[str]]],
) -> None:
    """Validate `[[engines]]` against the models that use them.

    `models` yields (model name, generation engine names, embedding engine names).
    Raises ValueError naming the key: duplicate names, a fixed port used twice, an
    unknown engine, or an engine referenced in the wrong role.
    """
    by_name: dict[str, EngineSettings] = {}
    ports: dict[int, str] = {}
    for index, engine in enumerate(engines):
        if engine.name in by_name:
            raise ValueError(f"engines[{index}].name: duplicate engine name {engine.name!r}")
        by_name[engine.name] = engine
        if engine.port and engine.port in ports:
            raise ValueError(
                f"engines[{index}].port: {engine.port} is also used by engine "
                f"{ports[engine.port]!r}"
            )
        ports[engine.port] = engine.name
    for model, generation, embedding in models:
        for key, names, role in (
            ("engines", generation, "generation"),
            ("embedding_engines", embedding, "embedding"),
        ):
            for name in names:
                found = by_name.get(name)
                if found is None:
                    known = ", ".join(sorted(by_name)) or "none"
                    raise ValueError(
                        f"models[{model!r}].{key}: no engine named {name!r} (known: {known})"
                    )
                if found.role != role:
                    raise ValueError(
                        f"models[{model!r}].{key}: engine {name!r} has role = "
                        f"{found.role!r}, expected {role!r}"
                    )


def embedded_default(
    model_path: str,
    binary: str | None = None,
    *,
    model_name: str = "qwen2.5-coder-0.5b",
    draft_model_path: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Raw config (`engines` and `models`) for the installed local stack.

    A generation engine (with a draft model when given) and an embedding sidecar on the
    0.5B model; merge it into the raw TOML data before validation.
    """
    generation: dict[str, Any] = {
        "name": "coder",
        "role": "generation",
        "binary": binary,
        "model": model_path,
        "threads": threads,
    }
    if draft_model_path is not None:
        generation["draft_model"] = draft_model_path
    embedding: dict[str, Any] = {
        "name": "coder-embed",
        "role": "embedding",
        "binary": binary,
        "model": draft_model_path or model_path,
        "pooling": "mean",
        "parallel": 1,
        "ctx_size": 2048,
        "threads": threads,
    }
    return {
        "engines": [{k: v for k, v in e.items() if v is not None} for e in (generation, embedding)],
        "models": [
            {"name": model_name, "engines": ["coder"], "embedding_engines": ["coder-embed"]}
        ],
    }


__all__ = [
    "EMBEDDING_FLAGS",
    "EngineRole",
    "EngineSettings",
    "Pooling",
    "check_engine_references",
    "embedded_default",
]
