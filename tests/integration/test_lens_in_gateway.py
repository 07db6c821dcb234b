"""The Lens wired into best-of-k: embeddings from the model's embedding upstream,
verified candidates recorded as training examples in a real Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for
from tests.integration.test_best_of_k import BAD, GOOD, PROMPT, TESTS, by_seed

pytestmark = [pytest.mark.nsjail, pytest.mark.redis]


def test_verified_candidates_become_training_examples(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
    redis_url: str,
    tmp_path: Path,
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({1: GOOD}, BAD), embedding_dim=16))
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}],
            lens={
                "enabled": True,
                "redis_url": redis_url,
                "dim": 16,
                "checkpoint_dir": str(tmp_path / "lens"),
            },
        )
    )
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0, timeout=30)
    answer = sdk.chat.completions.create(
        model="coder",
        messages=[{"role": "user", "content": PROMPT}],  # type: ignore[list-item]
        seed=0,
        extra_body={"atlas": {"k": 3, "tests": TESTS}},
    )
    assert answer.choices[0].message.content == GOOD
    lens = gw.services.lens
    assert lens is not None
    # Candidates 0, 1 and 2 all reached verification (no early stop before they arrived):
    # each becomes one labelled example, embedded by the embedding upstream.
    assert wait_for(lambda: lens.service.status()["pending_examples"] >= 2, timeout=10)
    embedding_calls = upstream.requests_to("/v1/embeddings")
    assert embedding_calls and all(r.headers["x-atlas-purpose"] == "lens" for r in embedding_calls)
    assert "Candidate solution" in embedding_calls[0].body["input"][0]
