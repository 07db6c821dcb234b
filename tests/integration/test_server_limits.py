"""Limits of the HTTP server, tested with raw sockets (issue 15): a slowloris connection
is closed within server.header_timeout_s, a slow body within body_timeout_s, oversized
or too many headers get 431, and ordinary requests, slow answers included, are
untouched (gateway/serving.py)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

HEADER_TIMEOUT_S = 0.5
BODY_TIMEOUT_S = 0.5
SLACK_S = 1.0  # a busy CI machine: the close comes within the timeout plus this
CHAT = json.dumps({"model": "coder", "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture
def gw(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    limits = {
        "header_timeout_s": HEADER_TIMEOUT_S,
        "body_timeout_s": BODY_TIMEOUT_S,
        "idle_timeout_s": 0.5,
        "max_header_bytes": 8 * 1024,
        "max_headers": 50,
    }
    return gateway_factory(
        make_settings([{"name": "coder", "upstreams": [upstream.url]}], server=limits)
    )


def connect(gw: RunningGateway) -> socket.socket:
    sock = socket.create_connection((gw.background.host, gw.background.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def closed_after(sock: socket.socket, drip: bytes = b"", every_s: float = 0.1) -> float:
    """Seconds until the server closes `sock`, sending `drip` every `every_s` meanwhile."""
    started = time.monotonic()
    sock.setblocking(False)
    while time.monotonic() - started < 30:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        try:
            if drip:
                sock.send(drip)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
        time.sleep(every_s)
    return float("inf")


def request_head(extra: bytes = b"", length: int = len(CHAT)) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: atlas\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: "
        + str(length).encode()
        + b"\r\n\r\n"
    )


def test_slowloris_connections_are_closed_within_the_header_timeout(gw: RunningGateway) -> None:
    socks = [connect(gw) for _ in range(50)]
    for sock in socks:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: atlas\r\n")
    # One header byte every 100 ms: a connection uvicorn alone would keep for ever.
    assert closed_after(socks[0], drip=b"x") < HEADER_TIMEOUT_S + SLACK_S
    time.sleep(0.2)
    for sock in socks[1:]:
        sock.setblocking(True)
        sock.settimeout(SLACK_S)
        answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b'"code":"request_timeout"' in answer
        sock.close()


def test_a_silent_connection_is_closed_within_the_header_timeout(gw: RunningGateway) -> None:
    with connect(gw) as sock:
        assert closed_after(sock) < HEADER_TIMEOUT_S + SLACK_S


def test_a_slow_body_is_cut_within_the_body_timeout(gw: RunningGateway) -> None:
    with connect(gw) as sock:
        sock.sendall(request_head(length=10_000) + b"{")
        assert closed_after(sock, drip=b" ", every_s=0.1) < BODY_TIMEOUT_S + SLACK_S
    assert httpx.post(gw.url + "/v1/chat/completions", content=CHAT).status_code == 200


@pytest.mark.parametrize(
    "extra",
    [
        b"x-big: " + b"a" * 9000 + b"\r\n",  # over max_header_bytes in one header
        b"".join(b"x-h%d: %s\r\n" % (i, b"b" * 200) for i in range(45)),  # over it in many
        b"".join(b"x-h%d: 1\r\n" % i for i in range(60)),  # over max_headers
    ],
)
def test_oversized_headers_get_431_and_a_closed_connection(
    gw: RunningGateway, extra: bytes
) -> None:
    with connect(gw) as sock:
        sock.sendall(request_head(extra) + CHAT)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "request_header_too_large"


def test_a_request_that_arrives_in_pieces_in_time_is_served(gw: RunningGateway) -> None:
    with connect(gw) as sock:
        raw = request_head(b"x-pad: " + b"p" * 6000 + b"\r\n") + CHAT
        for start in range(0, len(raw), 1000):
            sock.sendall(raw[start : start + 1000])
            time.sleep(0.02)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]


def test_keep_alive_requests_and_slow_answers_are_untouched(
    gw: RunningGateway, upstream: ScriptedUpstream
) -> None:
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        for _ in range(3):  # one connection, kept alive between requests
            assert client.post("/v1/chat/completions", content=CHAT).status_code == 200
            time.sleep(0.2)
        # An answer slower than both timeouts: they bound the request's arrival only.
        upstream.script = Script(delay_s=HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 0.5)
        assert client.post("/v1/chat/completions", content=CHAT).status_code == 200
        upstream.script = Script(chunk_delay_s=0.3)
        with client.stream(
            "POST", "/v1/chat/completions", json={**json.loads(CHAT), "stream": True}
        ) as stream:
            assert stream.read().endswith(b"data: [DONE]\n\n")


def test_an_idle_kept_alive_connection_is_closed(gw: RunningGateway) -> None:
    with connect(gw) as sock:
        sock.sendall(request_head() + CHAT)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert closed_after(sock) < 0.5 + SLACK_S
    with connect(gw) as sock:  # and one that starts its next request, then stalls
        sock.sendall(request_head() + CHAT)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert closed_after(sock, drip=b"x") < HEADER_TIMEOUT_S + SLACK_S
