"""The ops endpoints tell outsiders nothing (issue 15): /health is public, /ready gives
outsiders its status only, /metrics needs the master key or the metrics token, and no
upstream credentials or paths reach a metric label or an error message."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.fakes.upstream import Script, ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings, wait_for

MASTER_KEY = "sk-ops-master-key-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef0123"
CHAT = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def assert_openai_error(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code


def keyed_gateway(
    gateway_factory: Callable[..., RunningGateway], upstream: str, **server: object
) -> RunningGateway:
    return gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream]}],
            server={"master_key": MASTER_KEY, **server},
        )
    )


def test_health_is_public_and_ready_tells_outsiders_only_its_status(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream, redis_url: str
) -> None:
    gw = keyed_gateway(gateway_factory, upstream.url)
    assert httpx.get(gw.url + "/health").json() == {"status": "ok"}
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 200)
    assert httpx.get(gw.url + "/ready").json() == {"ready": True}
    assert httpx.get(gw.url + "/ready", headers=bearer("sk-wrong")).json() == {"ready": True}
    detailed = httpx.get(gw.url + "/ready", headers=bearer(MASTER_KEY)).json()
    assert detailed["ready"] is True
    assert set(detailed) == {"ready", "reason", "models", "engines", "sandbox", "store"}
    assert detailed["store"] == {"mode": "external", "address": redis_url, "up": True}
    assert detailed["models"]["coder"]["healthy_upstreams"] == 1
    upstream.script = Script(health_status=503)
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 503, timeout=8)
    assert httpx.get(gw.url + "/ready").json() == {"ready": False}


def test_metrics_need_the_master_key_or_the_metrics_token(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = keyed_gateway(gateway_factory, upstream.url, metrics_token=METRICS_TOKEN)
    assert_openai_error(httpx.get(gw.url + "/metrics"), 401, "invalid_api_key")
    assert_openai_error(httpx.get(gw.url + "/metrics", headers=bearer("x")), 401, "invalid_api_key")
    for key in (MASTER_KEY, METRICS_TOKEN):
        reply = httpx.get(gw.url + "/metrics", headers=bearer(key))
        assert reply.status_code == 200 and "atlas_requests_total" in reply.text
    # The metrics token opens /metrics only: not the API, not the details of /ready.
    chat = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer(METRICS_TOKEN))
    assert_openai_error(chat, 401, "invalid_api_key")
    assert set(httpx.get(gw.url + "/ready", headers=bearer(METRICS_TOKEN)).json()) == {"ready"}


def test_upstream_credentials_and_paths_stay_out_of_labels_and_errors(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    secret_url = upstream.url.replace("http://", "http://atlas:hunter2-secret@") + "/base"
    gw = keyed_gateway(gateway_factory, secret_url)
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 200)
    assert httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer(MASTER_KEY))
    metrics = httpx.get(gw.url + "/metrics", headers=bearer(MASTER_KEY)).text
    name = upstream.url.removeprefix("http://")
    assert f'upstream="{name}"' in metrics
    assert "hunter2" not in metrics and "/base" not in metrics
    upstream.script = Script(status=500)
    failed = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=bearer(MASTER_KEY))
    assert failed.status_code >= 500 and "upstream" in failed.json()["error"]["message"]
    assert "hunter2" not in failed.text


def test_a_model_with_only_embedding_upstreams_is_ready(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_factory(
        make_settings([{"name": "embedder", "embedding_upstreams": [upstream.url]}])
    )
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 200), httpx.get(
        gw.url + "/ready"
    ).text
    upstream.script = Script(health_status=503)
    assert wait_for(lambda: httpx.get(gw.url + "/ready").status_code == 503, timeout=8)


def test_without_a_key_configured_everything_is_open(gateway: RunningGateway) -> None:
    # A loopback gateway with no master key: open like its API.
    assert wait_for(lambda: httpx.get(gateway.url + "/ready").status_code == 200)
    assert "models" in httpx.get(gateway.url + "/ready").json()
    assert httpx.get(gateway.url + "/metrics").status_code == 200


def test_one_server_in_two_roles_is_counted_per_role(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw = gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}],
            server={"master_key": MASTER_KEY},
        )
    )
    key = bearer(MASTER_KEY)
    assert httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=key).status_code == 200
    embedding = {"model": "coder", "input": "hello"}
    assert httpx.post(gw.url + "/v1/embeddings", json=embedding, headers=key).status_code == 200
    metrics = httpx.get(gw.url + "/metrics", headers=key).text
    name = upstream.url.removeprefix("http://")
    for role in ("generation", "embedding"):
        labels = f'model="coder",outcome="ok",role="{role}",upstream="{name}"'
        line = f"atlas_upstream_requests_total{{{labels}}} 1.0"
        assert line in metrics, metrics


def test_a_required_sandbox_that_cannot_start_makes_the_gateway_unready(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    # What a container without nsjail's privileges looks like: the jail's self-check fails.
    broken = {"backend": "nsjail", "nsjail_path": "/nonexistent/nsjail"}
    models = [{"name": "coder", "upstreams": [upstream.url]}]
    tolerant = gateway_factory(make_settings(models, sandbox=broken))
    assert wait_for(lambda: httpx.get(tolerant.url + "/ready").status_code == 200)
    assert httpx.get(tolerant.url + "/ready").json()["sandbox"]["available"] is False

    strict = gateway_factory(make_settings(models, sandbox={**broken, "required": True}))
    assert wait_for(
        lambda: httpx.get(strict.url + "/ready").json()["models"]["coder"]["healthy_upstreams"] == 1
    )
    reply = httpx.get(strict.url + "/ready")
    assert reply.status_code == 503
    assert reply.json()["reason"].startswith("sandbox unavailable: ")
    assert httpx.post(strict.url + "/v1/chat/completions", json=CHAT).status_code == 200
