from __future__ import annotations

from typing import Any

import msgspec
import pytest

from config.engines import EngineSettings, check_engine_references, embedded_default


def convert(**values: Any) -> EngineSettings:
    return msgspec.convert({"name": "gen", "model": "m.gguf", **values}, EngineSettings)


def test_defaults() -> None:
    settings = convert()
    assert settings.role == "generation" and settings.port == 0 and settings.binary is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"role": "embedding", "draft_model": "d.gguf"}, "draft_model: engine 'gen' has role"),
        ({"pooling": "mean"}, "pooling: engine 'gen' is a generation engine"),
        ({"extra_args": ["--embeddings"]}, "extra_args: --embeddings on generation engine"),
        ({"extra_args": ["--port=1"]}, "extra_args: --port of engine 'gen': set from the"),
        ({"spec_draft_max": 4}, "spec_draft_max: engine 'gen' sets draft tokens"),
        (
            {"draft_model": "d", "spec_draft_max": 2, "spec_draft_min": 3},
            "spec_draft_min: must not exceed",
        ),
        ({"port": 70000}, "port: 70000 is out of range"),
        ({"name": "bad name"}, "name: 'bad name' must be"),
        ({"parallel": 0}, "parallel: must be at least 1"),
        ({"restart_backoff_max_s": 0.5}, "restart_backoff_max_s: must be at least"),
    ],
)
def test_validation_names_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        convert(**values)


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `draft_max`"):
        convert(draft_max=4)


def test_references() -> None:
    gen, embed = convert(), convert(name="emb", role="embedding")
    check_engine_references([gen, embed], [("coder", ["gen"], ["emb"])])
    with pytest.raises(ValueError, match=r"models\['coder'\].engines: no engine named 'nope'"):
        check_engine_references([gen], [("coder", ["nope"], [])])
    with pytest.raises(ValueError, match="engine 'gen' has role = 'generation', expected"):
        check_engine_references([gen], [("coder", [], ["gen"])])
    with pytest.raises(ValueError, match=r"engines\[1\].name: duplicate engine name"):
        check_engine_references([gen, gen], [])
    with pytest.raises(ValueError, match=r"engines\[1\].port: 9000 is also used"):
        check_engine_references([convert(port=9000), convert(name="b", port=9000)], [])


def test_embedded_default_validates() -> None:
    raw = embedded_default("/c/small.gguf", "/c/llama-server", draft_model_path=None)
    engines = msgspec.convert(raw["engines"], tuple[EngineSettings, ...])
    assert [e.role for e in engines] == ["generation", "embedding"]
    assert engines[1].pooling == "mean" and engines[0].draft_model is None
    spec = embedded_default("/c/big.gguf", None, draft_model_path="/c/small.gguf")
    gen, emb = msgspec.convert(spec["engines"], tuple[EngineSettings, ...])
    assert gen.model == "/c/big.gguf" and gen.draft_model == "/c/small.gguf"
    assert emb.model == "/c/small.gguf"  # the sidecar stays on the small model
    check_engine_references(
        (gen, emb), [(m["name"], m["engines"], m["embedding_engines"]) for m in spec["models"]]
    )
