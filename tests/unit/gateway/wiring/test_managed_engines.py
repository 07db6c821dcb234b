"""The gateway owning managed engines from settings: pools, /ready, /metrics, telemetry.

Runs once `[[engines]]` is wired into Settings and Services (see engines/managed.py)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from config import Settings
from gateway.app import create_app
from tests.fakes.fake_llama_server import write_wrapper

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(
        "engines" not in Settings.__struct_fields__,
        reason="[[engines]] is not wired into config.Settings yet",
    ),
]


def settings(binary: str) -> Settings:
    raw = {
        "sandbox": {"backend": "disabled"},
        "engines": [
            {"name": "gen", "binary": binary, "model": "m.gguf", "draft_model": "d.gguf"},
            {"name": "emb", "role": "embedding", "binary": binary, "model": "m.gguf"},
        ],
        "models": [{"name": "coder", "engines": ["gen"], "embedding_engines": ["emb"]}],
    }
    return msgspec.convert(raw, Settings, strict=True)


async def test_gateway_starts_routes_to_and_reports_its_engines(tmp_path: Path) -> None:
    app = create_app(settings(write_wrapper(tmp_path, ACCEPT=2)))
    async with AsyncTestClient(app) as client:
        ready = (await client.get("/ready")).json()
        assert ready["ready"] is True, ready
        assert {n: e["state"] for n, e in ready["engines"].items()} == {
            "gen": "ready",
            "emb": "ready",
        }
        reply = await client.post(
            "/v1/chat/completions",
            json={"model": "coder", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.status_code == 200, reply.text
        metrics = (await client.get("/metrics")).text
        assert 'atlas_engine_state{engine="gen",state="ready"} 1.0' in metrics
        assert 'atlas_engine_draft_acceptance_ratio{engine="gen"} 0.5' in metrics
        services = app.state.services
    assert services.engines.engines["gen"].state == "stopped"


def test_unknown_engine_reference_names_the_key() -> None:
    raw = {"models": [{"name": "coder", "engines": ["nope"]}]}
    with pytest.raises(msgspec.ValidationError, match=r"models\['coder'\].engines: no engine"):
        msgspec.convert(raw, Settings, strict=True)
