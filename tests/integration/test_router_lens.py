"""The Lens' prior failure as the router's L, in a real gateway: a scripted chat upstream,
a scripted embedding upstream (3-wide vectors), the session's Redis, real nsjail and a
real Lens checkpoint (docs/routing.md, "Difficulty")."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from config import RouterSettings, Settings
from gateway.strategies.router.difficulty import (
    NEUTRAL,
    Signals,
    complexity,
    difficulty,
    verifiability,
)
from lens.checkpoint import CheckpointStore
from lens.features import feature_text
from lens.model import LensModel
from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.admin_support import BEARER, MASTER_KEY, SESSION_SECRET
from tests.integration.conftest import RunningGateway, make_settings
from tests.integration.test_router import CHAT, DOCTEST_PROMPT, GOOD, ask

pytestmark = [pytest.mark.nsjail, pytest.mark.redis]
DIM = 3  # the scripted upstream's embedding width
BINS = 8  # narrow enough that L's 0.125 moves the request to another bin
EMBEDDINGS = "/v1/embeddings"
LENS_TEXT = feature_text(DOCTEST_PROMPT, "")
# D of DOCTEST_PROMPT on a fresh store (nothing familiar) with L neutral.
PLAIN = difficulty(
    Signals(1.0, verifiability("prompt", 1), complexity(DOCTEST_PROMPT), NEUTRAL),
    RouterSettings(),
)


def settings_for(
    chat: ScriptedUpstream,
    embeddings: ScriptedUpstream,
    lens_dir: Path | None,
    dim: int = DIM,
    **cache: Any,
) -> Settings:
    """The router over `chat`, near matches and the Lens over `embeddings`; the Lens on
    when `lens_dir` is given (its checkpoints), under a Redis prefix of its own."""
    model = {
        "name": "coder",
        "upstreams": [chat.url],
        "embedding_upstreams": [embeddings.url],
        "strategy": {"type": "router", "bins": BINS, "cache": cache},
    }
    sections: dict[str, Any] = {
        "server": {"master_key": MASTER_KEY},
        "accounts": {"session_secret": SESSION_SECRET},
    }
    if lens_dir is not None:
        sections["lens"] = {
            "enabled": True,
            "dim": dim,
            "hidden": [8],
            "checkpoint_dir": str(lens_dir),
            "redis_prefix": f"lens-{uuid.uuid4().hex}:",
        }
    return make_settings([model], **sections)


def failing_checkpoint(directory: Path, dim: int = DIM) -> Path:
    """A Lens whose model says every candidate fails: p(correct) = sigmoid(b - s E) with
    b = -12 and E >= 0 is below 1e-5 whatever the embedding."""
    model = LensModel(dim, (8,))
    with torch.no_grad():
        model.bias.fill_(-12.0)
    CheckpointStore(directory).save(model, {})
    return directory


def routers(embeddings: ScriptedUpstream) -> list[list[str]]:
    """The inputs of the router's embedding requests (the Lens' training records, asked
    for in the background with `x-atlas-purpose: lens`, aside)."""
    asked = embeddings.requests_to(EMBEDDINGS)
    return [r.body["input"] for r in asked if r.headers["x-atlas-purpose"] == "router"]


def observed_bins(gw: RunningGateway) -> list[int]:
    reply = httpx.get(gw.url + "/admin/api/routing", headers=BEARER, timeout=10)
    assert reply.status_code == 200, reply.text
    (model,) = reply.json()["models"]
    return [b["bin"] for b in model["bins"] if any(r["observations"] for r in b["routes"])]


@pytest.fixture
def chat(upstream_factory: Callable[..., ScriptedUpstream]) -> ScriptedUpstream:
    return upstream_factory(Script(content=GOOD))


def test_a_lens_that_predicts_failure_raises_the_difficulty_and_the_bin(
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
    chat: ScriptedUpstream,
    tmp_path: Path,
) -> None:
    embeddings = upstream_factory()
    off = gateway_factory(settings_for(chat, embeddings, None))
    plain = float(ask(off, BEARER).headers["x-atlas-difficulty"])
    assert plain == pytest.approx(PLAIN, abs=0.001)
    off.stop()
    embeddings.received.clear()

    on = gateway_factory(settings_for(chat, embeddings, failing_checkpoint(tmp_path / "lens")))
    reply = ask(on, BEARER)
    lensed = float(reply.headers["x-atlas-difficulty"])
    # L = 1 - p(correct) ~ 1 instead of 0.5: D rises by w_l * 0.5 / sum(w) = 0.125.
    assert lensed - plain == pytest.approx(0.125, abs=0.002)
    assert int(lensed * BINS) != int(plain * BINS)
    assert observed_bins(on) == [int(lensed * BINS)]  # the bandit learnt in the new bin
    # One embedding request for both: the near-match text and the Lens' problem text.
    assert routers(embeddings) == [[DOCTEST_PROMPT, LENS_TEXT]]

    # The same task under a system prompt: another cache key, the same two texts, both
    # read from the Lens' embedding cache; familiarity 0 now (cosine 1), L still ~1.
    payload = {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "Answer with code only."},
            {"role": "user", "content": DOCTEST_PROMPT},
        ],
    }
    again = httpx.post(on.url + CHAT, json=payload, headers=BEARER, timeout=60)
    assert again.status_code == 200, again.text
    assert again.headers["x-atlas-route"] != "cache"
    assert float(again.headers["x-atlas-difficulty"]) == pytest.approx(lensed - 0.30, abs=0.002)
    assert len(routers(embeddings)) == 1


@pytest.mark.parametrize("case", ["untrained", "embeddings fail", "wrong width"])
def test_without_a_usable_prediction_l_is_neutral_and_the_request_succeeds(
    case: str,
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
    chat: ScriptedUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lens_dir = tmp_path / "lens"
    dim = 4 if case == "wrong width" else DIM  # a 4-wide Lens, 3-wide embeddings: no score
    if case != "untrained":
        failing_checkpoint(lens_dir, dim)
    embeddings = upstream_factory(Script(status=500) if case == "embeddings fail" else None)
    gw = gateway_factory(settings_for(chat, embeddings, lens_dir, dim))
    reply = ask(gw, BEARER)
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    assert float(reply.headers["x-atlas-difficulty"]) == pytest.approx(PLAIN, abs=0.001)
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("gateway.strategies")]
    if case == "untrained":  # nothing embedded for the Lens: the near-match text only
        assert routers(embeddings) == [[DOCTEST_PROMPT]]
    elif case == "embeddings fail":
        assert any("router: no embeddings" in w for w in warned), warned
    else:
        assert any("the Lens could not score the problem" in w for w in warned), warned


@pytest.mark.parametrize(
    ("lens", "inputs"), [("off", []), ("untrained", []), ("trained", [[LENS_TEXT]])]
)
def test_the_lens_asks_for_an_embedding_only_when_it_can_predict(
    lens: str,
    inputs: list[list[str]],
    gateway_factory: Callable[[Settings], RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
    chat: ScriptedUpstream,
    tmp_path: Path,
) -> None:
    # The cache off: near matches ask for nothing, so every embedding is the Lens'.
    lens_dir = {"off": None, "untrained": tmp_path / "lens"}.get(lens)
    if lens == "trained":
        lens_dir = failing_checkpoint(tmp_path / "lens")
    embeddings = upstream_factory()
    gw = gateway_factory(settings_for(chat, embeddings, lens_dir, enabled=False))
    reply = ask(gw, BEARER)
    assert reply.json()["choices"][0]["message"]["content"] == GOOD
    assert routers(embeddings) == inputs
