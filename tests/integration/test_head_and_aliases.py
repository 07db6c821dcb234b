"""HEAD wherever GET exists (and `HEAD /` without a key, as Claude Code sends it), and
the OpenAI paths without /v1 as the same routes: same auth, same metrics labels."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from tests.fakes.upstream import ScriptedUpstream
from tests.integration.conftest import RunningGateway, make_settings

MASTER = "sk-master-" + "m" * 32
MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def keyed(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> RunningGateway:
    return gateway_factory(
        make_settings(
            [{"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]}],
            server={"master_key": MASTER},
        )
    )


def auth() -> dict[str, str]:
    return {"authorization": f"Bearer {MASTER}"}


def test_head_root_without_a_key(keyed: RunningGateway) -> None:
    reply = httpx.head(keyed.url + "/")
    assert reply.status_code == 200
    assert reply.content == b""
    assert reply.headers["content-type"] == "application/json"
    get = httpx.get(keyed.url + "/")
    assert get.status_code == 200 and get.json()["status"] == "ok"
    assert int(reply.headers["content-length"]) == len(get.content)


@pytest.mark.parametrize("path", ["/health", "/ready", "/v1/models", "/v1/models/coder", "/models"])
def test_head_answers_like_get_without_a_body(keyed: RunningGateway, path: str) -> None:
    get = httpx.get(keyed.url + path, headers=auth())
    head = httpx.head(keyed.url + path, headers=auth())
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert "x-request-id" in head.headers


def test_head_keeps_the_auth_of_get(keyed: RunningGateway) -> None:
    assert httpx.head(keyed.url + "/v1/models").status_code == 401
    assert httpx.head(keyed.url + "/models/coder").status_code == 401
    assert httpx.head(keyed.url + "/v1/models/nope", headers=auth()).status_code == 404


def test_head_on_a_post_route_is_405(keyed: RunningGateway) -> None:
    reply = httpx.head(keyed.url + "/v1/chat/completions", headers=auth())
    assert reply.status_code == 405
    get = httpx.get(keyed.url + "/v1/chat/completions", headers=auth())
    assert get.status_code == 405 and get.json()["error"]["code"] == "method_not_allowed"


def test_the_sdk_works_with_a_base_url_without_v1(keyed: RunningGateway) -> None:
    sdk = openai.OpenAI(base_url=keyed.url, api_key=MASTER, max_retries=0, timeout=10)
    assert sdk.chat.completions.create(model="coder", messages=MESSAGES).choices
    stream = sdk.chat.completions.create(model="coder", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert sdk.completions.create(model="coder", prompt="def f").choices
    assert sdk.embeddings.create(model="coder", input="hi").data
    assert [m.id for m in sdk.models.list()] == ["coder"]
    assert sdk.models.retrieve("coder").id == "coder"


def test_unprefixed_paths_need_the_same_key(keyed: RunningGateway) -> None:
    sdk = openai.OpenAI(base_url=keyed.url, api_key="wrong", max_retries=0, timeout=10)
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="coder", messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        sdk.models.list()


def test_unprefixed_paths_share_the_v1_metrics_labels(keyed: RunningGateway) -> None:
    httpx.post(
        keyed.url + "/chat/completions",
        json={"model": "coder", "messages": MESSAGES},
        headers=auth(),
    ).raise_for_status()
    httpx.get(keyed.url + "/models/coder", headers=auth()).raise_for_status()
    metrics = httpx.get(keyed.url + "/metrics", headers=auth()).text
    assert 'endpoint="/v1/chat/completions",model="coder",status="200"' in metrics
    assert 'endpoint="/v1/models/{id}"' in metrics
    assert 'endpoint="/chat/completions"' not in metrics
