"""Versioned checkpoints on disk: atomic writes and a `latest` pointer.

Layout: DIR/lens-v000001.pt, DIR/lens-v000002.pt, ..., DIR/latest (the file name).
`encode` and `decode` are the same payload as bytes, for a checkpoint published through
Redis to the other replicas (lens/published.py).
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import torch

from lens.model import LensModel, model_config, model_from_config

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^lens-v(\d{6,})\.pt$")
FORMAT = 1


@dataclass(frozen=True)
class Loaded:
    version: int
    model: LensModel
    meta: dict[str, Any]


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temp file in the same directory, fsync, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode(model: LensModel, meta: dict[str, Any], version: int | None = None) -> bytes:
    """The checkpoint file's bytes; `version` None for a published one (Redis numbers it)."""
    payload = {
        "format": FORMAT,
        "version": version,
        "created_at": time.time(),
        "config": model_config(model),
        "meta": msgspec.to_builtins(meta),
        "state_dict": model.state_dict(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def decode(data: bytes | Path, version: int) -> Loaded:
    """A checkpoint from its bytes or its file, numbered `version`."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint v{version} has unknown format {payload.get('format')}")
    model = model_from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Loaded(version=version, model=model, meta=dict(payload["meta"]))


class CheckpointStore:
    def __init__(self, directory: Path | str, keep: int = 5) -> None:
        # LensSettings.checkpoint_dir defaults to a path under `~`.
        self.directory = Path(directory).expanduser()
        self.keep = keep

    def versions(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        found = (_NAME.match(p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, version: int) -> Path:
        return self.directory / f"lens-v{version:06d}.pt"

    def save(self, model: LensModel, meta: dict[str, Any], version: int | None = None) -> int:
        """Write `version` (default: the next one) and point `latest` at it; returns it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if version is None:
            version = max(self.versions(), default=0) + 1
        data = encode(model, meta, version)
        _atomic_write(self.path(version), lambda fh: fh.write(data))
        _atomic_write(
            self.directory / "latest", lambda fh: fh.write(self.path(version).name.encode())
        )
        self._prune(version)
        logger.info("lens: saved checkpoint v%d in %s", version, self.directory)
        return version

    def _prune(self, newest: int) -> None:
        for version in self.versions()[: -self.keep]:
            if version != newest:
                self.path(version).unlink(missing_ok=True)

    def latest_version(self) -> int | None:
        pointer = self.directory / "latest"
        if pointer.is_file():
            m = _NAME.match(pointer.read_text().strip())
            if m and self.path(int(m.group(1))).is_file():
                return int(m.group(1))
            logger.warning("lens: %s points nowhere; using the newest file", pointer)
        versions = self.versions()
        return versions[-1] if versions else None

    def load(self, version: int) -> Loaded:
        return decode(self.path(version), version)

    def load_latest(self) -> Loaded | None:
        version = self.latest_version()
        return None if version is None else self.load(version)
