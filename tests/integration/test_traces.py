"""Request traces from a real gateway: best-of-k's tests, per-candidate verdicts and
selection reach the store (Redis, read back as any replica reads it); text is kept only
while capture is on; streams and pass-through leave traces too."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, set_capture, stored_traces
from tests.integration.test_best_of_k import BROKEN, GOOD, PROMPT, TESTS, ask, by_seed

pytestmark = [pytest.mark.timeout(60)]


def _gateway(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    return gateway_factory(make_settings([{"name": "coder", "upstreams": [upstream.url]}]))


def _sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0, timeout=30)


@pytest.mark.nsjail
def test_a_best_of_k_trace_has_every_candidates_verdict(
    gateway_factory: Callable[..., RunningGateway],
    upstream_factory: Callable[..., ScriptedUpstream],
) -> None:
    upstream = upstream_factory(Script(content_for=by_seed({2: GOOD, 1: BROKEN})))
    gw = _gateway(gateway_factory, upstream)
    _sdk(gw).chat.completions.create(
        model="coder",
        messages=ask(),
        seed=0,
        extra_body={"atlas": {"k": 4, "tests": TESTS}},
        extra_headers={"x-request-id": "trace-me"},
    )
    (trace,) = stored_traces(gw, 1)
    assert trace.request_id == "trace-me" and trace.route == "best-of-k" and trace.k == 4
    assert trace.selection == "tests" and trace.verified
    assert (trace.tests_source, trace.tests_count) == ("request", 2)
    verdicts = {c.index: c for c in trace.candidates}
    assert verdicts[2].winner and verdicts[2].verdict == "passed" and verdicts[2].passed == 2
    assert verdicts[0].verdict == "failed" and not verdicts[0].winner
    assert trace.generated_tokens > trace.prompt_tokens + trace.completion_tokens
    assert trace.latency_ms is not None and trace.latency_ms > 0
    assert trace.prompt_text is None and trace.answer_text is None  # capture is off


def test_text_is_kept_only_while_capture_is_on(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = _gateway(gateway_factory, upstream)
    client = _sdk(gw)
    client.chat.completions.create(model="coder", messages=ask())
    set_capture(gw, True)
    client.chat.completions.create(model="coder", messages=ask())
    stream = client.chat.completions.create(model="coder", messages=ask(), stream=True)
    assert list(stream)
    streamed, captured, plain = stored_traces(gw, 3)
    assert plain.prompt_text is None and plain.answer_text is None
    assert captured.prompt_text is not None and PROMPT in captured.prompt_text
    assert captured.answer_text == "Hello from the scripted upstream."
    assert streamed.stream and streamed.answer_text is None  # a stream's text is not kept
    assert [t.route for t in (streamed, captured, plain)] == ["fast"] * 3
