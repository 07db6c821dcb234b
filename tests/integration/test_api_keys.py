"""API keys at the edge, through the real openai SDK and plain HTTP: each header form,
every way a key is refused (one 401 for all), the master key, open mode, a key's model
allow-list and its cap on k."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.upstream import ScriptedUpstream
from tests.integration.accounts_admin import KeyAdmin
from tests.integration.conftest import RunningGateway, make_settings

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

MASTER_KEY = "sk-master-of-this-gateway"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CHAT = {"model": "coder", "messages": MESSAGES}
REFUSED = (
    "Invalid, revoked or expired API key, or none given. Send it as "
    "'Authorization: Bearer <key>' (or in an 'x-api-key' header)."
)


def sdk(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def start(
    gateway_factory: Callable[..., RunningGateway],
    upstream: ScriptedUpstream,
    *,
    master_key: str | None = MASTER_KEY,
    models: tuple[str, ...] = ("coder",),
    **sections: Any,
) -> tuple[RunningGateway, KeyAdmin]:
    server = {"master_key": master_key} if master_key else {}
    gw = gateway_factory(
        make_settings(
            [{"name": name, "upstreams": [upstream.url]} for name in models],
            server=server,
            **sections,
        )
    )
    return gw, KeyAdmin(gw.settings)


def chat(gw: RunningGateway, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(gw.base_url + "/chat/completions", json=CHAT, headers=headers, timeout=20)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": {
            "message": REFUSED,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


def test_a_key_authenticates_in_each_header_form(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream)
    key = admin.key().key
    answer = sdk(gw, key).chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    for headers in ({"x-api-key": key}, {"api-key": key}, {"authorization": f"bearer {key}"}):
        assert chat(gw, headers).status_code == 200, headers
    # The key is what counts, not what a client puts beside it.
    assert chat(gw, {"authorization": "Basic Zm9vOmJhcg==", "x-api-key": key}).status_code == 200
    assert len(upstream.requests_to("/v1/chat/completions")) == 5


def test_wrong_malformed_revoked_expired_and_suspended_keys_get_one_401(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream)
    good = admin.key()
    wrong = good.key[:-4] + ("aaaa" if not good.key.endswith("aaaa") else "bbbb")
    for key in (wrong, "sk-llm-short", "sk-llm-" + "z" * 56, "sk-not-ours", "x"):
        assert_refused(chat(gw, {"authorization": f"Bearer {key}"}))
    assert_refused(chat(gw, {}))
    with pytest.raises(openai.AuthenticationError) as error:
        sdk(gw, wrong).chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    assert error.value.code == "invalid_api_key"

    # Revoked: refused at once, although the key was just used (and is in the cache).
    assert chat(gw, {"x-api-key": good.key}).status_code == 200
    admin.revoke(good.record.id)
    assert_refused(chat(gw, {"x-api-key": good.key}))

    suspended = admin.key()
    assert chat(gw, {"x-api-key": suspended.key}).status_code == 200
    admin.disable_owner(suspended)
    assert_refused(chat(gw, {"x-api-key": suspended.key}))

    expiring = admin.key(expires_in_s=1.0)
    assert chat(gw, {"x-api-key": expiring.key}).status_code == 200
    time.sleep(1.1)
    assert_refused(chat(gw, {"x-api-key": expiring.key}))
    assert len(upstream.requests_to("/v1/chat/completions")) == 3


def test_the_master_key_still_works_and_models_need_a_key(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, _ = start(gateway_factory, upstream)
    ok = sdk(gw, MASTER_KEY).chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    assert ok.choices[0].message.content
    assert chat(gw, {"x-api-key": MASTER_KEY}).status_code == 200
    assert_refused(chat(gw, {"authorization": f"Bearer {MASTER_KEY}x"}))
    assert_refused(httpx.get(gw.base_url + "/models"))
    assert [m.id for m in sdk(gw, MASTER_KEY).models.list()] == ["coder"]


def test_open_mode_lets_placeholders_in_but_still_checks_our_keys(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream, master_key=None)
    assert chat(gw, {}).status_code == 200
    assert sdk(gw, "sk-no-key-required").chat.completions.create(
        model="coder",
        messages=MESSAGES,  # type: ignore[arg-type]
    )
    limited = admin.key(rpm=10)
    answered = chat(gw, {"authorization": f"Bearer {limited.key}"})
    assert answered.status_code == 200
    assert answered.headers["x-ratelimit-limit-requests"] == "10"  # its limits apply
    admin.revoke(limited.record.id)
    assert_refused(chat(gw, {"authorization": f"Bearer {limited.key}"}))
    assert_refused(chat(gw, {"authorization": "Bearer sk-llm-not-a-key"}))


def test_a_model_outside_the_allow_list_is_unknown(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream, models=("coder", "secret-model"))
    key = admin.key(models=["coder"]).key
    client = sdk(gw, key)
    assert client.chat.completions.create(model="coder", messages=MESSAGES)  # type: ignore[arg-type]
    hidden = httpx.post(
        gw.base_url + "/chat/completions",
        json={**CHAT, "model": "secret-model"},
        headers={"x-api-key": key},
    )
    missing = httpx.post(
        gw.base_url + "/chat/completions",
        json={**CHAT, "model": "no-such-model"},
        headers={"x-api-key": key},
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == {
        "message": "The model 'secret-model' does not exist. Known models: coder",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert missing.json()["error"]["message"] == (
        "The model 'no-such-model' does not exist. Known models: coder"
    )
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="secret-model", input="hi")
    assert [m.id for m in client.models.list()] == ["coder"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("secret-model")
    assert client.models.retrieve("coder").id == "coder"
    # The master key sees every model.
    assert len(list(sdk(gw, MASTER_KEY).models.list())) == 2
    assert all(r.body["model"] == "coder" for r in upstream.received)


def test_max_k_caps_the_candidates_and_the_header_says_so(
    gateway_factory: Callable[..., RunningGateway], upstream: ScriptedUpstream
) -> None:
    gw, admin = start(gateway_factory, upstream, sandbox={"backend": "disabled"})
    capped = admin.key(max_k=2).key
    raw = sdk(gw, capped).chat.completions.with_raw_response.create(
        model="coder",
        messages=[{"role": "user", "content": "Write a python function add(a, b)."}],
        extra_body={"atlas": {"k": 4}},
    )
    assert raw.headers["x-atlas-route"] == "best-of-k"
    assert raw.headers["x-atlas-k"] == "2"
    candidates = [r for r in upstream.received if r.headers.get("x-atlas-purpose") == "candidate"]
    assert len(candidates) == 2
    # max_k = 1: a single answer, passed through.
    single = admin.key(max_k=1).key
    raw = sdk(gw, single).chat.completions.with_raw_response.create(
        model="coder", messages=MESSAGES, extra_body={"atlas": {"k": 4}}
    )  # type: ignore[arg-type]
    assert raw.headers["x-atlas-route"] == "fast" and raw.headers["x-atlas-k"] == "1"
    # The master key is not capped.
    raw = sdk(gw, MASTER_KEY).chat.completions.with_raw_response.create(
        model="coder", messages=MESSAGES, extra_body={"atlas": {"k": 3}}
    )  # type: ignore[arg-type]
    assert raw.headers["x-atlas-k"] == "3"
