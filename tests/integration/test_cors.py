"""CORS for browser-based clients (server.cors_allow_origins): preflights without a key,
headers on JSON, errors and streams; nothing at all when it is off or for other origins."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fakes.upstream import ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

MASTER = "sk-master-" + "c" * 32
PAGE = "http://localhost:3000"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT = {"model": "coder", "messages": MESSAGES}


def start(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, **server: object
) -> RunningGateway:
    models = [{"name": "coder", "upstreams": [upstream.url]}]
    return gateway_factory(make_settings(models, server={"master_key": MASTER, **server}))


@pytest.fixture
def cors(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    return start(gateway_factory, upstream, cors_allow_origins=[PAGE, "https://app.example.com"])


def preflight(
    gateway: RunningGateway, path: str, origin: str = PAGE, **extra: str
) -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": "POST", **extra}
    return httpx.options(gateway.url + path, headers=headers)


def test_preflight_needs_no_key(cors: RunningGateway) -> None:
    requested = "authorization, content-type, x-stainless-os, anthropic-version"
    reply = preflight(cors, "/v1/chat/completions", **{"access-control-request-headers": requested})
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == PAGE
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert reply.headers["access-control-allow-headers"] == requested
    assert int(reply.headers["access-control-max-age"]) > 0
    assert "Origin" in reply.headers["vary"]


def test_preflight_without_requested_headers_lists_what_clients_send(cors: RunningGateway) -> None:
    reply = preflight(cors, "/chat/completions")
    assert reply.status_code == 204
    allowed = reply.headers["access-control-allow-headers"]
    for name in ("authorization", "content-type", "x-api-key", "anthropic-version", "openai-beta"):
        assert name in allowed
    assert "x-stainless-" in allowed


def test_preflight_from_another_origin_is_refused(cors: RunningGateway) -> None:
    reply = preflight(cors, "/v1/chat/completions", origin="https://evil.example")
    assert reply.status_code == 403
    assert "access-control-allow-origin" not in reply.headers
    assert reply.json()["error"]["code"] == "cors_origin_not_allowed"


def test_answers_to_an_allowed_origin_carry_cors(cors: RunningGateway) -> None:
    headers = {"origin": "https://app.example.com", "authorization": f"Bearer {MASTER}"}
    reply = httpx.post(cors.base_url + "/chat/completions", json=CHAT, headers=headers)
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "https://app.example.com"
    exposed = reply.headers["access-control-expose-headers"]
    assert "x-request-id" in exposed and "x-atlas-route" in exposed
    assert "x-ratelimit-remaining-requests" in exposed
    assert "access-control-allow-credentials" not in reply.headers


def test_errors_and_streams_carry_cors(cors: RunningGateway) -> None:
    denied = httpx.post(cors.base_url + "/chat/completions", json=CHAT, headers={"origin": PAGE})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == PAGE
    headers = {"origin": PAGE, "authorization": f"Bearer {MASTER}"}
    body = {**CHAT, "stream": True}
    with httpx.stream("POST", cors.base_url + "/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["access-control-allow-origin"] == PAGE
        assert "data: [DONE]" in r.read().decode()
    models = httpx.get(cors.base_url + "/models", headers=headers)
    assert models.headers["access-control-allow-origin"] == PAGE


def test_other_origins_and_plain_clients_get_no_cors(cors: RunningGateway) -> None:
    auth = {"authorization": f"Bearer {MASTER}"}
    other = httpx.post(
        cors.base_url + "/chat/completions", json=CHAT, headers={**auth, "origin": "http://x.io"}
    )
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    plain = httpx.post(cors.base_url + "/chat/completions", json=CHAT, headers=auth)
    assert not any(name.startswith("access-control-") for name in plain.headers)


def test_off_by_default(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gateway = start(gateway_factory, upstream)
    reply = preflight(gateway, "/v1/chat/completions")
    assert "access-control-allow-origin" not in reply.headers
    assert reply.status_code != 204 or not reply.headers.get("access-control-allow-methods")
    answer = httpx.post(
        gateway.base_url + "/chat/completions",
        json=CHAT,
        headers={"origin": PAGE, "authorization": f"Bearer {MASTER}"},
    )
    assert not any(name.startswith("access-control-") for name in answer.headers)


def test_a_star_allows_any_origin(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gateway = start(gateway_factory, upstream, cors_allow_origins=["*"])
    reply = preflight(gateway, "/v1/models", origin="https://anywhere.example")
    assert reply.status_code == 204
    assert reply.headers["access-control-allow-origin"] == "*"


def test_the_admin_api_gets_no_cors(cors: RunningGateway) -> None:
    reply = preflight(cors, "/admin/api/session")
    assert "access-control-allow-origin" not in reply.headers
