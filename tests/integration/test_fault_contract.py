"""The upstream contract under fault injection: whatever an upstream does, the client gets
a well-formed answer in time, and the gateway keeps serving with every slot released.

For each toxic of `tests/fakes/faulty_upstream.py`, on every route (chat pass-through
and best-of-k, text completions, completions with `suffix` (/infill), embeddings), as
JSON and as a stream:

- a non-2xx answer is the OpenAI error shape, with 502 `upstream_error` or 504
  `upstream_timeout` (the README's errors table);
- a stream ends with a finish_reason then `data: [DONE]`, or with one error event then
  `data: [DONE]`, and every event is one `data:` line of JSON;
- within the configured (tiny) deadlines;
- and afterwards /health answers, a good request succeeds, and
  `atlas_upstream_in_flight` is back to 0.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from config import Settings
from gateway.app import create_app
from gateway.testing import BackgroundServer, serve_in_thread
from gateway.wiring.services import Services
from tests.fakes.faulty_upstream import CONTENT, HUGE_BYTES, TOXICS, FaultyUpstream
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.timeout(30)

DEADLINES = {
    "connect_timeout_s": 0.5,
    "read_timeout_s": 0.6,  # JSON: silence before or inside the body
    "total_timeout_s": 1.5,  # JSON: the whole answer
    "stream_first_byte_timeout_s": 0.5,
    "stream_idle_timeout_s": 0.5,
    "stream_headers_timeout_s": 0.8,
}
WRITE_TIMEOUT_S = 0.5
# Every exchange, fault or not, is over well within this (the slowest deadline is the
# JSON total of 1.5 s; a 50 MB answer takes a few seconds on a loaded machine).
BOUND_S = 4.0
HUGE_BOUND_S = 15.0


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    streams: bool = True
    best_of_k: bool = False


CODE_PROMPT = "Write a Python function add(a, b) that returns the sum of a and b."
ROUTES = [
    Route("chat", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, {}),
    Route(
        "chat-best-of-k",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": CODE_PROMPT}]},
        {"x-atlas-k": "2"},
        best_of_k=True,
    ),
    Route("completions", "/v1/completions", {"prompt": "def add(a, b):"}, {}),
    Route("infill", "/v1/completions", {"prompt": "def add(a, b):\n", "suffix": "\n"}, {}),
    Route("embeddings", "/v1/embeddings", {"input": "hello"}, {}, streams=False),
]

# What a pass-through JSON request gets from each toxic ("ok" or the status).
JSON_OUTCOME: dict[str, str | int] = {
    "status_500": 502,
    "reset": 502,
    "reset_mid_stream": 502,
    "stall_before_headers": 504,
    "stall_mid_stream": 504,
    "trickle_headers": 504,
    "trickle_body": "ok",
    "half_then_fin": 502,
    "not_json": 502,
    "truncated_json": 502,
    "wrong_content_type": "ok",  # the body is a good answer: the label does not matter
    "wrong_shape": 502,
    "malformed_sse": "ok",  # the stream-only toxics leave JSON answers alone
    "multiline_sse": "ok",
    "oversized_line": "ok",
    "huge_answer": "ok",
}
# ... and a pass-through stream: a status before any byte, or an error event after.
STREAM_OUTCOME: dict[str, str | int] = {
    "status_500": 502,
    "reset": 502,
    "reset_mid_stream": "error",
    "stall_before_headers": 504,
    "stall_mid_stream": "error",
    "trickle_headers": 504,
    "trickle_body": "ok",
    "half_then_fin": "error",
    "not_json": 502,
    "truncated_json": "error",
    "wrong_content_type": 502,
    "wrong_shape": "error",
    "malformed_sse": "error",
    "multiline_sse": "ok",
    "oversized_line": "error",
    "huge_answer": "ok",
}


def expected(toxic: str, route: Route, stream: bool) -> str | int:
    if not route.best_of_k:
        return (STREAM_OUTCOME if stream else JSON_OUTCOME)[toxic]
    # Candidates are JSON requests; when every one fails, one 502 (or, once a stream
    # has started, one error event) names the causes.
    outcome = JSON_OUTCOME[toxic]
    if outcome == "ok":
        return "ok"
    return "error" if stream else 502


@dataclass(frozen=True)
class Case:
    toxic: str
    route: Route
    stream: bool

    @property
    def id(self) -> str:
        return f"{self.toxic}-{self.route.name}-{'stream' if self.stream else 'json'}"


SLOW_TOXICS = {"huge_answer"}
CASES = [
    pytest.param(
        Case(toxic, route, stream),
        id=Case(toxic, route, stream).id,
        marks=[pytest.mark.slow] if toxic in SLOW_TOXICS else [],
    )
    for toxic in TOXICS
    for route in ROUTES
    for stream in ((False, True) if route.streams else (False,))
]


@dataclass
class Gateway:
    background: BackgroundServer
    services: Services

    @property
    def url(self) -> str:
        return self.background.url


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    upstream = FaultyUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(faulty: FaultyUpstream) -> Iterator[Gateway]:
    settings = msgspec.convert(
        {
            "models": [
                {
                    "name": "coder",
                    # One URL for generation and embeddings: their gauges must not collide.
                    "upstreams": [faulty.url],
                    "embedding_upstreams": [faulty.url],
                    "health_path": "",
                }
            ],
            "upstream": DEADLINES,
            "server": {"keepalive_interval_s": 0.2, "write_timeout_s": WRITE_TIMEOUT_S},
            "sandbox": {"backend": "disabled"},
        },
        Settings,
        strict=True,
    )
    app = create_app(settings)
    background = serve_in_thread(app, lifespan="on", write_timeout_s=WRITE_TIMEOUT_S)
    yield Gateway(background, app.state.services)
    background.stop()


@pytest.fixture(autouse=True)
def _clean(faulty: FaultyUpstream) -> Iterator[None]:
    faulty.set(None)
    yield
    faulty.set(None)


# --- what a client sees ---------------------------------------------------


@dataclass
class Seen:
    status: int
    kind: str  # "ok", "error" (an error event in a 200 stream) or "status"
    body: Any = None  # the JSON answer or error, or the stream's payloads
    text: str = ""  # a stream's content, joined
    size: int = 0  # of the JSON body, or of the stream's content


def exchange(gw: Gateway, route: Route, stream: bool, timeout: float = 20.0) -> Seen:
    body = {"model": "coder", **route.body}
    if stream:
        body["stream"] = True
        if route.path == "/v1/chat/completions":
            body["stream_options"] = {"include_usage": True}
    with httpx.stream(
        "POST", gw.url + route.path, json=body, headers=route.headers, timeout=timeout
    ) as response:
        raw = response.read()
        content_type = response.headers.get("content-type", "")
    if response.status_code != 200:
        return Seen(response.status_code, "status", _error_body(raw, response.status_code))
    if not stream:
        assert content_type.startswith("application/json"), content_type
        return Seen(200, "ok", json.loads(raw), size=len(raw))
    assert content_type.startswith("text/event-stream"), content_type
    seen = _stream_outcome(raw)
    seen.size = len(seen.text)
    return seen


def _error_body(raw: bytes, status: int) -> dict[str, Any]:
    data = json.loads(raw)
    error = data["error"]
    assert set(error) == {"message", "type", "param", "code"}, data
    assert error["message"]
    code = {502: "upstream_error", 504: "upstream_timeout"}.get(status)
    if code is not None:
        assert (error["type"], error["code"]) == ("server_error", code), error
    return data  # type: ignore[no-any-return]


def sse_payloads(raw: bytes) -> list[str]:
    """The data of each event; asserts the gateway's framing: every event is comments
    or one `data:` line, and the stream ends with exactly one [DONE]."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-200:]
    payloads = []
    for event in text[:-2].split("\n\n"):
        lines = event.split("\n")
        if all(line.startswith(": ") for line in lines):
            continue
        assert len(lines) == 1 and lines[0].startswith("data: "), event[:300]
        payloads.append(lines[0].removeprefix("data: "))
    assert payloads and payloads[-1] == "[DONE]", payloads[-3:]
    assert "[DONE]" not in payloads[:-1]
    return payloads[:-1]


def _stream_outcome(raw: bytes) -> Seen:
    chunks = [json.loads(p) for p in sse_payloads(raw)]
    errors = [c for c in chunks if "error" in c]
    if errors:
        assert len(errors) == 1 and chunks[-1] is errors[0], "the error event must be last"
        error = errors[0]["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["code"] in ("upstream_error", "upstream_timeout"), error
        return Seen(200, "error", chunks)
    finishes = [
        choice["finish_reason"]
        for chunk in chunks
        for choice in chunk.get("choices") or ()
        if choice.get("finish_reason")
    ]
    assert finishes, "a stream without an error must carry a finish_reason"
    text = "".join(
        (choice.get("delta") or {}).get("content") or choice.get("text") or ""
        for chunk in chunks
        for choice in chunk.get("choices") or ()
    )
    return Seen(200, "ok", chunks, text)


def answer_text(route: Route, data: dict[str, Any]) -> str:
    if route.path == "/v1/embeddings":
        return "embedding" if data["data"][0]["embedding"] else ""
    choice = data["choices"][0]
    return str(choice["message"]["content"] if "message" in choice else choice["text"])


def in_flight_gauges(gw: Gateway) -> dict[str, float]:
    metrics = httpx.get(gw.url + "/metrics", timeout=5).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("atlas_upstream_in_flight{")
    }


def usable(gw: Gateway) -> bool:
    pools = [p for g in gw.services.models.values() for p in (g.generation, g.embedding)]
    return all(u.healthy is not False for p in pools for u in p.upstreams)


def slots_free(gw: Gateway) -> bool:
    pools = [p for g in gw.services.models.values() for p in (g.generation, g.embedding)]
    return all(u.in_flight == 0 for p in pools for u in p.upstreams)


def assert_still_serving(gw: Gateway, faulty: FaultyUpstream, route: Route, stream: bool) -> None:
    faulty.set(None)
    assert wait_for(lambda: slots_free(gw), timeout=3), "an upstream slot was never released"
    # A failure the dispatcher saw (a connect timeout) takes the upstream out of rotation
    # until the health checker's next round readmits it (no health path here).
    assert wait_for(lambda: usable(gw), timeout=3), "an upstream was never readmitted"
    gauges = in_flight_gauges(gw)
    assert gauges and all(v == 0 for v in gauges.values()), gauges
    assert httpx.get(gw.url + "/health", timeout=5).status_code == 200
    good = exchange(gw, route, stream)
    assert good.kind == "ok", good
    if stream:
        assert good.text == CONTENT
    else:
        assert answer_text(route, good.body) in (CONTENT, "embedding")


# --- the contract ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_every_fault_keeps_the_contract(
    gateway: Gateway, faulty: FaultyUpstream, case: Case
) -> None:
    faulty.set(case.toxic)
    started = time.monotonic()
    seen = exchange(gateway, case.route, case.stream)
    elapsed = time.monotonic() - started
    faulty.set(None)
    want = expected(case.toxic, case.route, case.stream)
    got: str | int = seen.status if seen.kind == "status" else seen.kind
    assert got == want, f"{case.id}: expected {want}, got {got}: {str(seen.body)[:500]}"
    bound = HUGE_BOUND_S if case.toxic == "huge_answer" else BOUND_S
    assert elapsed < bound, f"{case.id} took {elapsed:.1f} s"
    if seen.kind == "ok":
        if case.toxic == "huge_answer":
            assert seen.size >= HUGE_BYTES, seen.size
        elif case.stream:
            assert seen.text == CONTENT
        else:
            assert answer_text(case.route, seen.body) in (CONTENT, "embedding")
    assert_still_serving(gateway, faulty, case.route, case.stream)


def test_one_bad_candidate_is_recorded_and_the_other_wins(
    gateway: Gateway, faulty: FaultyUpstream
) -> None:
    route = ROUTES[1]
    for toxic in ("not_json", "wrong_shape", "truncated_json"):
        faulty.set(toxic, times=1)
        body = {"model": "coder", **route.body, "atlas": {"k": 2, "debug": True}}
        answer = httpx.post(gateway.url + route.path, json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-atlas-candidates"] == "1"
        errors = [c["error"] for c in answer.json()["atlas"]["candidates"]]
        assert sum(e is not None for e in errors) == 1, errors
    assert slots_free(gateway)


def test_generation_and_embedding_gauges_do_not_collide(
    gateway: Gateway, faulty: FaultyUpstream
) -> None:
    gauges = in_flight_gauges(gateway)
    name = faulty.url.removeprefix("http://")  # upstreams are labelled host:port
    roles = {key for key in gauges if f'upstream="{name}"' in key}
    assert any('role="generation"' in key for key in roles), gauges
    assert any('role="embedding"' in key for key in roles), gauges


@contextmanager
def own_gateway(models: list[dict[str, Any]], upstream: dict[str, float]) -> Iterator[Gateway]:
    settings = msgspec.convert(
        {"models": models, "upstream": upstream, "sandbox": {"backend": "disabled"}}, Settings
    )
    app = create_app(settings)
    background = serve_in_thread(app, lifespan="on")
    try:
        yield Gateway(background, app.state.services)
    finally:
        background.stop()


def test_stalled_first_upstream_fails_over_before_any_byte(faulty: FaultyUpstream) -> None:
    """A stall before the first byte moves the request to the other upstream, once."""
    good = FaultyUpstream().start()
    models = [{"name": "coder", "upstreams": [faulty.url, good.url], "health_path": ""}]
    try:
        with own_gateway(models, DEADLINES) as gw:
            route = ROUTES[0]
            for stream in (False, True):
                faulty.set("stall_before_headers", times=1)
                before = len(good.received)
                # Equal load: the first listed upstream (the stalled one) is tried first.
                seen = exchange(gw, route, stream)
                assert seen.kind == "ok", seen
                assert len(good.received) == before + 1
            faulty.set("trickle_headers", times=1)  # it answers, slowly: no failover
            seen = exchange(gw, route, True)
            assert seen.status == 504, seen
            assert wait_for(lambda: slots_free(gw), timeout=3)
    finally:
        good.stop()


@pytest.mark.parametrize("toxic", ["stall_before_headers", "trickle_headers"])
def test_a_client_that_leaves_before_the_headers_frees_the_slot(
    faulty: FaultyUpstream, toxic: str
) -> None:
    long = {**DEADLINES, "stream_first_byte_timeout_s": 20, "stream_headers_timeout_s": 20}
    models = [{"name": "coder", "upstreams": [faulty.url], "health_path": ""}]
    with own_gateway(models, long) as gw:
        faulty.set(toxic)
        body = {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=0.3)
        # Long before any upstream deadline: the client's leaving cancelled the wait.
        assert wait_for(lambda: slots_free(gw), timeout=2)
        faulty.set(None)
        assert exchange(gw, ROUTES[0], True).kind == "ok"


# --- clients that stop reading --------------------------------------------


def _open_non_reading_stream(url: str, body: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a tiny window
    sock.connect((host, int(port)))
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    sock.sendall(request)
    return sock


@pytest.mark.slow
def test_clients_that_stop_reading_are_dropped_and_release_their_slots(
    gateway: Gateway, faulty: FaultyUpstream
) -> None:
    faulty.set("huge_answer")  # far more than the socket buffers hold
    body = json.dumps(
        {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ).encode()
    clients = [_open_non_reading_stream(gateway.url, body) for _ in range(50)]
    try:
        upstream = gateway.services.models["coder"].generation.upstreams[0]
        assert wait_for(lambda: upstream.in_flight > 0, timeout=5)
        # Each is dropped once its writes stall for the write timeout.
        assert wait_for(lambda: slots_free(gateway), timeout=20), upstream.in_flight
        for client in clients:
            assert _was_dropped(client)
    finally:
        for client in clients:
            client.close()
    faulty.set(None)
    assert_still_serving(gateway, faulty, ROUTES[0], True)


def _was_dropped(sock: socket.socket) -> bool:
    """Read what the gateway sent before it gave up: the connection must end without a
    complete answer (reset, or EOF before [DONE]). A client whose request never reached
    the upstream (the faulty one, busy with 50 huge answers, can time connects out) gets
    an error answer instead, on a connection kept alive: that is no hang either."""
    sock.settimeout(5)
    head = tail = b""
    try:
        while data := sock.recv(1 << 20):
            head = head or data[:16]
            tail = (tail + data)[-64:]
    except ConnectionResetError:
        return True
    except TimeoutError:
        return head.startswith((b"HTTP/1.1 502", b"HTTP/1.1 503", b"HTTP/1.1 504"))
    return b"[DONE]" not in tail
