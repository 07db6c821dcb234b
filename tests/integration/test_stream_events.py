"""The events a strategy streams, read straight from the strategy over a real upstream on
loopback: a best-of-k stream reports its cost before it replays the winner, so a client
that leaves during the replay is still accounted for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
import pytest

from config import BestOfKSettings, ModelSettings
from engines import ClientLimits, Dispatcher, Upstream, UpstreamClient, UpstreamPool
from gateway.strategies.base import Call, Chunk, Done, Report
from gateway.strategies.best_of_k.strategy import BestOfKStrategy, BestOfKTools
from gateway.strategies.best_of_k.verification import SandboxVerifier
from gateway.strategies.model import ModelGroup
from gateway.strategies.tokens import TokenCounter
from tests.fakes.upstream import ScriptedUpstream

PROMPT = "Write a Python function add(a, b) that returns the sum."


@dataclass(frozen=True)
class Msg:
    role: str
    content: str


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


async def test_best_of_k_reports_before_it_replays_the_winner(upstream: ScriptedUpstream) -> None:
    client = UpstreamClient(ClientLimits())
    group = ModelGroup(
        ModelSettings(name="coder", upstreams=(upstream.url,)),
        UpstreamPool("coder", [Upstream(upstream.url)]),
        UpstreamPool("coder", []),
        BestOfKSettings(k=1),
    )
    tools = BestOfKTools(
        dispatcher=Dispatcher(client),
        verifier=SandboxVerifier(None),
        tokens=TokenCounter(),
        ranker_for=lambda _: None,
        keepalive_s=10.0,
    )
    body = {"model": "coder", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    call = Call(
        endpoint="chat",
        model=group,
        body=msgspec.json.encode(body),
        request_id="t-1",
        requested_model="coder",
        prompt_text=PROMPT,
        stream=True,
        messages=[Msg("user", PROMPT)],
    )
    try:
        opened = await BestOfKStrategy(tools, 2, BestOfKSettings(k=1)).stream(call)
        events = [event async for event in opened.events]
    finally:
        await client.aclose()
    assert opened.headers["x-atlas-route"] == "best-of-k"
    kinds = [type(event) for event in events]
    assert kinds.count(Report) == 1 and kinds[-1] is Done
    assert kinds.index(Report) < kinds.index(Chunk)
    report = next(e for e in events if isinstance(e, Report))
    assert report.usage.total_tokens > 0  # both candidates' tokens
    assert len(upstream.requests_to("/v1/chat/completions")) == 2
