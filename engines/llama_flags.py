"""Map engine settings to llama-server's argv, whatever its version calls each flag.

llama-server's flag names drift (`--draft-max` became `--spec-draft-n-max`, `-md` grew
`--spec-draft-model`), so the flags a binary knows are read once from its `--help`
(cached per binary path and mtime), and each feature we use lists its spellings, newest
first. A wanted feature that the binary lacks is an error naming it.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass

from config.engines import EngineSettings

HELP_TIMEOUT_S = 30.0

# feature -> (what it is, for error messages; spellings, preferred first)
FEATURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "model": ("the model file", ("--model", "-m")),
    "host": ("the listen address", ("--host",)),
    "port": ("the listen port", ("--port",)),
    "parallel": ("parallel slots", ("--parallel", "-np")),
    "ctx_size": ("the context size", ("--ctx-size", "-c")),
    "threads": ("the thread count", ("--threads", "-t")),
    "gpu_layers": ("GPU layers", ("--n-gpu-layers", "--gpu-layers", "-ngl")),
    "draft_model": (
        "speculative decoding (a draft model)",
        ("--spec-draft-model", "--model-draft", "-md"),
    ),
    "draft_max": (
        "speculative decoding's maximum draft tokens",
        ("--spec-draft-n-max", "--draft-max", "--draft-n", "--draft"),
    ),
    "draft_min": (
        "speculative decoding's minimum draft tokens",
        ("--spec-draft-n-min", "--draft-min", "--draft-n-min"),
    ),
    "draft_gpu_layers": (
        "GPU layers of the draft model",
        ("--spec-draft-ngl", "--n-gpu-layers-draft", "--gpu-layers-draft", "-ngld"),
    ),
    "spec_type": ("the speculative decoding type", ("--spec-type",)),
    "embeddings": ("embeddings", ("--embeddings", "--embedding")),
    "pooling": ("embedding pooling", ("--pooling",)),
    "metrics": ("the Prometheus endpoint", ("--metrics",)),
}
# Flags start a help line, separated by commas, before the value placeholder and
# the two-space gap that starts the description.
_REMOVED = "has been removed"
_FLAG_ITEM = re.compile(r"(-{1,2}[A-Za-z][A-Za-z0-9_-]*)(,\s*| (?=-))?")


class LlamaFlagError(Exception):
    """The llama-server binary cannot be probed, or lacks a feature the settings want."""


@dataclass(frozen=True, slots=True)
class LlamaFlags:
    """The flags one llama-server binary accepts."""

    binary: str
    known: frozenset[str]

    @classmethod
    def from_help(cls, binary: str, text: str) -> LlamaFlags:
        return cls(binary, parse_help(text))

    def spelling(self, feature: str) -> str | None:
        """The first spelling of `feature` this binary knows, or None."""
        return next((f for f in FEATURES[feature][1] if f in self.known), None)

    def require(self, feature: str, reason: str) -> str:
        flag = self.spelling(feature)
        if flag is None:
            what, spellings = FEATURES[feature]
            raise LlamaFlagError(
                f"{self.binary} does not support {what} (tried {', '.join(spellings)}), "
                f"needed for {reason}; upgrade llama-server or change the setting"
            )
        return flag


def parse_help(text: str) -> frozenset[str]:
    """Every flag named in the flag column of a `--help` text.

    A help line starts with its spellings joined by commas (`-m,    --model FNAME`);
    a value placeholder or a wide gap ends them, so flags named in descriptions
    ("replaces --draft-max") are not taken for flags of this version, nor are flags
    that are listed only to say they have been removed.
    """
    found: set[str] = set()
    for line in text.splitlines():
        stripped = line.strip()
        if _REMOVED in stripped:  # listed only to say it is gone
            continue
        position = 0
        while match := _FLAG_ITEM.match(stripped, position):
            found.add(match.group(1))
            if match.group(2) is None:
                break
            position = match.end()
    return frozenset(found)


class FlagProber:
    """Runs `binary --help` once per (path, mtime, size) and keeps the parsed flags."""

    def __init__(self, *, timeout_s: float = HELP_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._cache: dict[tuple[str, int, int], LlamaFlags] = {}
        self._lock = asyncio.Lock()
        self.runs = 0  # how many times --help actually ran

    async def probe(self, binary: str) -> LlamaFlags:
        key = _identity(binary)
        async with self._lock:  # engines starting together share one probe
            cached = self._cache.get(key)
            if cached is None:
                self.runs += 1
                cached = _check(binary, await _run_help(binary, self._timeout_s))
                self._cache[key] = cached
        return cached


def _identity(binary: str) -> tuple[str, int, int]:
    path = os.path.realpath(binary)
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise LlamaFlagError(f"llama-server binary {binary!r} not found: {exc.strerror}") from None
    return (path, stat.st_mtime_ns, stat.st_size)


def _check(binary: str, text: str) -> LlamaFlags:
    flags = LlamaFlags.from_help(binary, text)
    if "--port" not in flags.known or "--host" not in flags.known:
        snippet = text.strip()[:300]
        raise LlamaFlagError(
            f"{binary} --help does not look like llama-server's (no --host/--port): {snippet!r}"
        )
    return flags


async def _run_help(binary: str, timeout_s: float) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "--help",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        raise LlamaFlagError(f"cannot run {binary} --help: {exc.strerror or exc}") from None
    try:
        async with asyncio.timeout(timeout_s):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise LlamaFlagError(f"{binary} --help did not finish in {timeout_s:g} s") from None
    return out.decode("utf-8", "replace")


def build_argv(
    settings: EngineSettings, flags: LlamaFlags, *, port: int, binary: str | None = None
) -> list[str]:
    """The full command line for one engine, listening on `port`."""
    s = settings
    argv = [binary or flags.binary, flags.require("model", "model"), _path(s.model)]
    argv += [flags.require("host", "host"), s.host, flags.require("port", "port"), str(port)]
    argv += [flags.require("parallel", "parallel"), str(s.parallel)]
    argv += [flags.require("ctx_size", "ctx_size"), str(s.ctx_size)]
    if s.threads is not None:
        argv += [flags.require("threads", "threads"), str(s.threads)]
    if s.gpu_layers is not None:
        argv += [flags.require("gpu_layers", "gpu_layers"), str(s.gpu_layers)]
    if s.role == "embedding":
        argv.append(flags.require("embeddings", "role = 'embedding'"))
        if s.pooling is not None:
            argv += [flags.require("pooling", "pooling"), s.pooling]
    elif s.draft_model is not None:
        argv += _speculative_args(s, flags)
    metrics = flags.spelling("metrics")
    if metrics is not None:
        argv.append(metrics)
    argv += list(s.extra_args)
    return argv


def _speculative_args(s: EngineSettings, flags: LlamaFlags) -> list[str]:
    assert s.draft_model is not None
    argv = [flags.require("draft_model", "draft_model"), _path(s.draft_model)]
    # Newer servers infer the type from the draft GGUF's metadata and find none in a
    # plain model: ask for classic draft-model speculation explicitly.
    spec_type = flags.spelling("spec_type")
    if spec_type is not None:
        argv += [spec_type, "draft-simple"]
    if s.spec_draft_max is not None:
        argv += [flags.require("draft_max", "spec_draft_max"), str(s.spec_draft_max)]
    if s.spec_draft_min is not None:
        argv += [flags.require("draft_min", "spec_draft_min"), str(s.spec_draft_min)]
    if s.gpu_layers is not None and flags.spelling("draft_gpu_layers") is not None:
        argv += [flags.require("draft_gpu_layers", "gpu_layers"), str(s.gpu_layers)]
    return argv


def _path(value: str) -> str:
    return os.path.expanduser(value)  # llama-server does not expand "~"


__all__ = [
    "FEATURES",
    "FlagProber",
    "LlamaFlagError",
    "LlamaFlags",
    "build_argv",
    "parse_help",
]
