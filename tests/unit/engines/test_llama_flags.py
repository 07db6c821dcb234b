from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.engines import EngineSettings
from engines.llama_flags import FlagProber, LlamaFlagError, LlamaFlags, build_argv, parse_help
from tests.fakes.fake_llama_server import HELP_NEW, HELP_NO_SPEC, HELP_OLD, write_wrapper


def fake_binary(tmp_path: Path, help_variant: str = "new") -> str:
    return write_wrapper(tmp_path, HELP=help_variant)


def test_parse_help_reads_only_the_flag_column() -> None:
    known = parse_help(HELP_NEW)
    assert {"-m", "--model", "-md", "--spec-draft-model", "--model-draft"} <= known
    assert {"--spec-draft-n-max", "--spec-type", "-ngld", "--n-gpu-layers-draft"} <= known
    # Mentioned in a description, not a flag of this version.
    assert "--draft-max" not in known


def test_new_and_old_spellings_of_speculative_flags() -> None:
    settings = EngineSettings(
        name="gen", model="m.gguf", draft_model="d.gguf", spec_draft_max=8, spec_draft_min=2
    )
    new = build_argv(settings, LlamaFlags.from_help("ls", HELP_NEW), port=9000)
    old = build_argv(settings, LlamaFlags.from_help("ls", HELP_OLD), port=9000)
    assert new[new.index("--spec-draft-model") + 1] == "d.gguf"
    assert new[new.index("--spec-type") + 1] == "draft-simple"
    assert new[new.index("--spec-draft-n-max") + 1] == "8"
    assert new[new.index("--spec-draft-n-min") + 1] == "2"
    assert old[old.index("--model-draft") + 1] == "d.gguf"
    assert old[old.index("--draft-max") + 1] == "8"
    assert old[old.index("--draft-min") + 1] == "2"
    assert "--spec-type" not in old


def test_generation_argv_never_enables_embeddings() -> None:
    flags = LlamaFlags.from_help("ls", HELP_NEW)
    argv = build_argv(EngineSettings(name="g", model="m.gguf", threads=2), flags, port=1234)
    assert argv[:3] == ["ls", "--model", "m.gguf"]
    home = build_argv(EngineSettings(name="g", model="~/m.gguf"), flags, port=1)
    assert home[2] == str(Path.home() / "m.gguf")
    assert argv[argv.index("--port") + 1] == "1234"
    assert argv[argv.index("--threads") + 1] == "2"
    assert "--embeddings" not in argv and "--pooling" not in argv
    assert "--metrics" in argv


def test_embedding_argv() -> None:
    flags = LlamaFlags.from_help("ls", HELP_OLD)
    settings = EngineSettings(name="e", role="embedding", model="m.gguf", pooling="mean")
    argv = build_argv(settings, flags, port=1)
    assert "--embeddings" in argv
    assert argv[argv.index("--pooling") + 1] == "mean"
    assert "--metrics" not in argv  # the old help has no --metrics: optional, left out


def test_missing_feature_is_named() -> None:
    flags = LlamaFlags.from_help("/opt/llama-server", HELP_NO_SPEC)
    settings = EngineSettings(name="g", model="m.gguf", draft_model="d.gguf")
    with pytest.raises(LlamaFlagError, match=r"speculative decoding \(a draft model\)") as info:
        build_argv(settings, flags, port=1)
    assert "/opt/llama-server" in str(info.value)
    assert "--model-draft" in str(info.value)


async def test_probe_runs_help_once_per_binary_version(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, "old")
    prober = FlagProber()
    first = await prober.probe(binary)
    second = await prober.probe(binary)
    assert first is second and prober.runs == 1
    assert first.spelling("draft_max") == "--draft-max"
    # A new binary at the same path (another mtime) is probed again.
    os.utime(binary, ns=(1, 1))
    await prober.probe(binary)
    assert prober.runs == 2


async def test_probe_rejects_what_is_not_llama_server(tmp_path: Path) -> None:
    with pytest.raises(LlamaFlagError, match="does not look like llama-server"):
        await FlagProber().probe(fake_binary(tmp_path, "garbage"))
    with pytest.raises(LlamaFlagError, match="not found"):
        await FlagProber().probe(str(tmp_path / "missing"))
