"""Load settings: embedded defaults, then a TOML file, then ATLAS_* environment."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from config.errors import ConfigError
from config.legacy import upgrade
from config.redis import masked_url
from config.settings import Settings
from config.strategy import STRATEGY_TYPES

# Environment variable -> (section, key, type). Secrets and ports live here so
# they never have to be written into a file.
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "ATLAS_HOST": ("server", "host", str),
    "ATLAS_PORT": ("server", "port", int),
    "ATLAS_MASTER_KEY": ("server", "master_key", str),
    "ATLAS_METRICS_TOKEN": ("server", "metrics_token", str),
    "ATLAS_LOG_LEVEL": ("server", "log_level", str),
    "ATLAS_CORS_ALLOW_ORIGINS": ("server", "cors_allow_origins", list),  # comma-separated
    "ATLAS_SANDBOX_BACKEND": ("sandbox", "backend", str),
    "ATLAS_API_KEY_SECRET": ("accounts", "api_key_secret", str),
    "ATLAS_SESSION_SECRET": ("accounts", "session_secret", str),
    "ATLAS_ADMIN_PASSWORD_FILE": ("accounts", "admin_password_file", str),
    "ATLAS_ADMIN_NAME": ("accounts", "admin_name", str),
    "ATLAS_REDIS_URL": ("redis", "url", str),
    "ATLAS_DATA_DIR": ("redis", "data_dir", str),
}
# A quick way to point ATLAS at one server without a file.
ENV_UPSTREAM_URL = "ATLAS_UPSTREAM_URL"
ENV_MODEL_NAME = "ATLAS_MODEL_NAME"
DEFAULT_MODEL_NAME = "default"

_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`")
_STRATEGY = re.compile(r"models\[\d+\]\.strategy")
SECRET_KEYS = frozenset(
    {"master_key", "metrics_token", "api_key", "api_key_secret", "session_secret"}
)


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    fallback_models: Mapping[str, Any] | None = None,
) -> Settings:
    """Build validated settings. `overrides` (from CLI flags) win over everything.

    `fallback_models` (`models` and `engines`, e.g. the installed local stack) apply
    only when neither the file nor the environment defines any model."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = _read_toml(Path(path)) if path else {}
    _apply_env(raw, env)
    if fallback_models and not raw.get("models") and not raw.get("engines"):
        raw.update(fallback_models)
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    raw = upgrade(raw)
    try:
        return msgspec.convert(raw, Settings, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for var, (section, key, kind) in ENV_OVERRIDES.items():
        if var not in env or env[var] == "":
            continue
        value: Any = env[var]
        if kind is int:
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(f"{var} must be an integer, got {value!r}") from None
        elif kind is list:
            value = [part.strip() for part in value.split(",") if part.strip()]
        raw.setdefault(section, {})[key] = value
    urls = [u.strip() for u in env.get(ENV_UPSTREAM_URL, "").split(",") if u.strip()]
    if urls and not raw.get("models"):
        name = env.get(ENV_MODEL_NAME) or DEFAULT_MODEL_NAME
        raw["models"] = [{"name": name, "upstreams": urls}]


def _explain(exc: msgspec.ValidationError) -> str:
    # msgspec reports "... - at `$.models[0].upstreams[1]`"; turn the path into
    # the TOML spelling a user would search for.
    message = str(exc)
    text, _, where = message.partition(" - at `$")
    where = where.rstrip("`").removeprefix(".")
    if _STRATEGY.fullmatch(where.removesuffix(".type")):
        return _explain_strategy(text, where)
    unknown = _UNKNOWN_FIELD.fullmatch(text)
    if unknown:
        key = f"{where}.{unknown.group(1)}" if where else unknown.group(1)
        return f"{key}: unknown key (see config/atlas.example.toml for the known ones)"
    return f"{where}: {text}" if where else text


def _explain_strategy(text: str, where: str) -> str:
    # A tagged union reports a bad tag as "Invalid value 'x'" or a missing field: say
    # which key it is and what it may be.
    valid = f"(valid types: {', '.join(STRATEGY_TYPES)})"
    if where.endswith(".type"):
        value = text.removeprefix("Invalid value ")
        if value != text:
            return f"{where}: unknown strategy type {value} {valid}"
        return f"{where}: {text} {valid}"
    if text == "Object missing required field `type`":
        return f"{where}.type: missing {valid}"
    unknown = _UNKNOWN_FIELD.fullmatch(text)
    if unknown:
        return f"{where}.{unknown.group(1)}: unknown key for this strategy type"
    return f"{where}: {text}"


def masked(settings: Settings) -> dict[str, Any]:
    """Settings as plain data with secrets replaced, for printing."""
    data: dict[str, Any] = msgspec.to_builtins(settings)
    _mask(data)
    for section, key in (("redis", "url"), ("lens", "redis_url")):
        if data[section].get(key):  # a redis URL may carry a password
            data[section][key] = masked_url(data[section][key])
    return data


def _mask(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and value:
                node[key] = "***"
            else:
                _mask(value)
    elif isinstance(node, list):
        for item in node:
            _mask(item)


__all__ = ["ConfigError", "load_settings", "masked"]
