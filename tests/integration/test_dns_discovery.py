"""Upstreams found in DNS, end to end: a real gateway whose model's upstreams are
`dns+http://llama.test:<port>`, two scripted llama-servers on 127.0.0.1 and 127.0.0.2 at
that port (two "pods" of one headless Service), and a name server double (DNS is an
external service) whose answer the tests change."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for

pytestmark = pytest.mark.timeout(60)

CHAT = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}


class Names:
    """The name server: what `llama.test` resolves to now, or the error it gives. Read
    from the gateway's loop thread, written from the test's."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.error: OSError | None = None
        self._lock = threading.Lock()

    def answer(self, *addresses: str, error: OSError | None = None) -> None:
        with self._lock:
            self.addresses, self.error = list(addresses), error

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        assert host == "llama.test"
        with self._lock:
            if self.error is not None:
                raise self.error
            return list(self.addresses)


NXDOMAIN = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def pods() -> Iterator[tuple[ScriptedUpstream, ScriptedUpstream]]:
    first = ScriptedUpstream(Script()).start()
    try:
        second = ScriptedUpstream(Script()).start(port=first.port, host="127.0.0.2")
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def start(
    gateway_factory: Callable[..., RunningGateway], port: int, names: Names, **fields: Any
) -> RunningGateway:
    model = {
        "name": "coder",
        "upstreams": [{"url": f"dns+http://llama.test:{port}", "max_in_flight": 4}],
        "strategy": {"type": "pass_through"},
        **fields,
    }
    settings = make_settings(
        [model], upstream={"discovery_interval_s": 0.05, "health_interval_s": 0.2}
    )
    return gateway_factory(settings, resolver=names)


def members(gateway: RunningGateway) -> list[tuple[str, bool | None]]:
    pool = gateway.services.models["coder"].generation
    return [(u.url, u.healthy) for u in pool.upstreams]


def ready(gateway: RunningGateway) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(gateway.url + "/ready", timeout=5)
    return answer.status_code, answer.json()


def chat(gateway: RunningGateway, **extra: Any) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, **extra}, timeout=10)


def test_the_pool_follows_the_name(
    gateway_factory: Callable[..., RunningGateway],
    pods: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, b = pods
    names = Names("127.0.0.1")
    gateway = start(gateway_factory, a.port, names)
    assert members(gateway) == [(a.url, True)]  # checked before the gateway was up
    assert chat(gateway).status_code == 200 and len(a.received) == 1
    status, body = ready(gateway)
    assert status == 200
    assert body["models"]["coder"]["discovered"] == [
        {
            "role": "generation",
            "source": f"dns+http://llama.test:{a.port}",
            "upstreams": [a.url],
            "draining": 0,
            "error": None,
        }
    ]

    names.answer("127.0.0.2", "127.0.0.1")
    assert wait_for(lambda: members(gateway) == [(a.url, True), (b.url, True)])
    # Balanced as configured upstreams are: two at once go one to each.
    a.script.delay_s = b.script.delay_s = 0.3
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: chat(gateway), range(2)))
    assert [r.status_code for r in answers] == [200, 200]
    assert (len(a.received), len(b.received)) == (2, 1)


def test_an_upstream_that_leaves_finishes_its_stream_and_gets_no_new_request(
    gateway_factory: Callable[..., RunningGateway],
    pods: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, b = pods
    names = Names("127.0.0.1", "127.0.0.2")
    gateway = start(gateway_factory, a.port, names)
    a.script = Script(content="one two three four five six seven eight", chunk_delay_s=0.1)
    chunks: list[str] = []
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=10
    ) as stream:
        lines = stream.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert len(a.received) == 1  # the stream runs on a
        names.answer("127.0.0.2")
        assert wait_for(lambda: members(gateway) == [(b.url, True)])
        assert ready(gateway)[1]["models"]["coder"]["discovered"][0]["draining"] == 1
        assert chat(gateway).status_code == 200
        assert (len(a.received), len(b.received)) == (1, 1)  # the new one went to b
        data = [line for line in (first, *lines) if line.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    for line in data[:-1]:
        chunks.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
    assert "".join(chunks) == a.script.content
    assert wait_for(lambda: a.completed == 1) and a.disconnects == 0
    assert wait_for(lambda: ready(gateway)[1]["models"]["coder"]["discovered"][0]["draining"] == 0)


def test_failover_works_across_discovered_upstreams(
    gateway_factory: Callable[..., RunningGateway],
    pods: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, b = pods
    a.script.status = 500  # its /health still answers 200: only its answers fail
    gateway = start(gateway_factory, a.port, Names("127.0.0.1", "127.0.0.2"))
    answers = [chat(gateway) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert len(a.received) == 3 and len(b.received) == 3  # each moved once, to b


def test_a_failed_lookup_keeps_the_last_known_set(
    gateway_factory: Callable[..., RunningGateway],
    pods: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, b = pods
    names = Names("127.0.0.1", "127.0.0.2")
    gateway = start(gateway_factory, a.port, names)
    names.answer(error=NXDOMAIN)
    assert wait_for(lambda: ready(gateway)[1]["models"]["coder"]["discovered"][0]["error"])
    status, body = ready(gateway)
    source = body["models"]["coder"]["discovered"][0]
    assert status == 200 and source["upstreams"] == [a.url, b.url]
    assert source["error"] == "did not resolve: Name or service not known"
    assert members(gateway) == [(a.url, True), (b.url, True)]
    assert chat(gateway).status_code == 200


def test_a_name_that_does_not_resolve_at_start_up_leaves_the_model_not_ready(
    gateway_factory: Callable[..., RunningGateway],
    pods: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    a, _ = pods
    names = Names()
    names.answer(error=NXDOMAIN)
    source = f"dns+http://llama.test:{a.port}"
    gateway = start(gateway_factory, a.port, names, embedding_upstreams=[source])  # no crash
    status, body = ready(gateway)
    assert status == 503 and body["models"]["coder"]["upstreams"] == 0
    error = f"{source} did not resolve: Name or service not known"
    assert (
        body["reason"] == f"model 'coder' (generation): {error}; model 'coder' (embedding): {error}"
    )
    refused = chat(gateway)
    assert refused.status_code == 503, refused.text
    assert "has no generation upstream now" in refused.json()["error"]["message"]
    # Embeddings too: none now is not none configured (a 503, not a 400).
    embed = {"model": "coder", "input": "x"}
    refused = httpx.post(gateway.url + "/v1/embeddings", json=embed, timeout=10)
    assert refused.status_code == 503, refused.text

    names.answer("127.0.0.1")
    assert wait_for(lambda: ready(gateway)[0] == 200)
    assert chat(gateway).status_code == 200 and len(a.received) == 1
    assert httpx.post(gateway.url + "/v1/embeddings", json=embed, timeout=10).status_code == 200
