"""Property-based fuzzing of the edge (issue 15): random and mutated JSON bodies, raw
bytes and headers against every /v1/* POST endpoint of a real gateway (uvicorn, the
server limits, a scripted upstream). Never a 5xx; every error in the OpenAI shape.

Hypothesis runs derandomized (the same examples on every run) with bounded
max_examples: about 20 s in all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.serving import server_options
from gateway.testing import serve_in_thread
from tests.fakes.upstream import ScriptedUpstream
from tests.integration.conftest import make_settings

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
FUZZ = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    upstream = ScriptedUpstream().start()
    models = [
        {"name": "coder", "upstreams": [upstream.url], "embedding_upstreams": [upstream.url]},
        {"name": "auto", "upstreams": [upstream.url], "strategy": {"type": "best_of_k", "k": 2}},
    ]
    config = make_settings(models, sandbox={"backend": "disabled"})
    app = create_app(config)
    server = serve_in_thread(app, lifespan="on", **server_options(config.server))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()
        upstream.stop()


def check(reply: httpx.Response) -> None:
    """No 5xx; a JSON error body in the OpenAI shape for every error."""
    assert reply.status_code < 500, (reply.status_code, reply.text[:500])
    if reply.status_code >= 400:
        error = reply.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)
        assert error["param"] is None or isinstance(error["param"], str)
        assert error["code"] is None or isinstance(error["code"], str)


def post(client: httpx.Client, path: str, content: bytes, headers: dict[str, str]) -> None:
    with client.stream("POST", path, content=content, headers=headers) as reply:
        reply.read()
    check(reply)


# --- what gets sent -----------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


def bodies(anything: bool) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Request bodies per endpoint: every value of its field's type (edge values: to reach
    the strategies behind validation), or, with `anything`, sometimes any JSON at all."""

    def mostly(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(typed, typed, typed, json_values) if anything else typed

    small_ints = st.integers(min_value=-3, max_value=20)
    text = st.sampled_from(
        ["", "hi", "def f(x):\n    return x", "f(1) == 2", "```python\n"]
    ) | st.text(max_size=30)
    parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=2)
    message = st.fixed_dictionaries(
        {"role": mostly(st.sampled_from(["user", "system", "assistant", "tool"]))},
        optional={
            "content": mostly(text | parts),
            "name": mostly(st.text(max_size=8)),
            "tool_calls": mostly(st.just([])),
        },
    )
    model = mostly(st.sampled_from(["coder", "coder", "auto", "nope"]))
    tests = st.lists(
        st.sampled_from(["assert f(1) == 2", "def test_x():\n    assert 1", "x = ("])
        | st.fixed_dictionaries({"input": text, "output": text})
        | st.fixed_dictionaries({"code": text, "entry_point": st.sampled_from(["f", ""])}),
        max_size=3,
    )
    atlas = st.fixed_dictionaries(
        {},
        optional={"k": mostly(small_ints), "debug": mostly(st.booleans()), "tests": mostly(tests)},
    )
    common = {
        "stream": mostly(st.booleans()),
        "stream_options": mostly(st.fixed_dictionaries({"include_usage": st.booleans()})),
        "n": mostly(small_ints),
        "seed": mostly(small_ints | st.integers(min_value=-(2**63), max_value=2**64)),
        "temperature": mostly(st.floats(min_value=0, max_value=2)),
        "max_tokens": mostly(small_ints),
        "extra": json_values,
    }
    tools = st.lists(st.just({"type": "function", "function": {"name": "f"}}), max_size=1)
    return {
        "/v1/chat/completions": st.fixed_dictionaries(
            {"model": model, "messages": mostly(st.lists(message, min_size=1, max_size=3))},
            optional={**common, "tools": mostly(tools), "atlas": mostly(atlas)},
        ),
        "/v1/completions": st.fixed_dictionaries(
            {"model": model, "prompt": mostly(text | st.lists(text | st.integers(), max_size=3))},
            optional={
                **common,
                "suffix": mostly(text),
                "stop": mostly(st.lists(text, max_size=2)),
                "top_p": mostly(st.floats(min_value=0, max_value=1)),
            },
        ),
        "/v1/embeddings": st.fixed_dictionaries(
            {"model": model, "input": mostly(text | st.lists(text, max_size=3))},
            optional={"encoding_format": mostly(st.sampled_from(["float", "base64"]))},
        ),
    }


RANDOM_BODIES, TYPED_BODIES = bodies(anything=True), bodies(anything=False)
header_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=24)
headers = st.fixed_dictionaries(
    {},
    optional={
        "x-atlas-k": st.sampled_from(["2", "0", "-1", "x", "9" * 40]) | header_text,
        "content-type": st.sampled_from(["application/json", "text/plain"]) | header_text,
        "x-request-id": header_text,
        "authorization": header_text,
        "accept": header_text,
    },
)


def mutated(raw: bytes) -> st.SearchStrategy[bytes]:
    """`raw` cut, or with a few bytes replaced or inserted somewhere."""
    return st.tuples(
        st.integers(min_value=0, max_value=len(raw)),
        st.integers(min_value=0, max_value=4),
        st.binary(max_size=4) | st.sampled_from([b"{", b"[", b'"', b"\\", b"\xff", b"\x00"]),
    ).map(lambda edit: raw[: edit[0]] + edit[2] + raw[edit[0] + edit[1] :])


VALID = {
    "/v1/chat/completions": {"model": "coder", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"model": "coder", "prompt": "def f():"},
    "/v1/embeddings": {"model": "coder", "input": "hello"},
}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_random_bodies_and_headers(client: httpx.Client, path: str) -> None:
    @FUZZ
    @given(body=RANDOM_BODIES[path], sent=headers)
    def run(body: dict[str, Any], sent: dict[str, str]) -> None:
        post(client, path, json.dumps(body).encode(), sent)

    run()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_well_typed_bodies_with_edge_values(client: httpx.Client, path: str) -> None:
    # Past validation: the strategies (pass-through, n > 1, best-of-k, streams, infill).
    @FUZZ
    @given(body=TYPED_BODIES[path], sent=headers)
    def run(body: dict[str, Any], sent: dict[str, str]) -> None:
        post(client, path, json.dumps(body).encode(), sent)

    run()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_mutated_and_random_bytes(client: httpx.Client, path: str) -> None:
    raw = json.dumps(VALID[path]).encode()

    @FUZZ
    @given(
        content=mutated(raw)
        | st.binary(max_size=64)
        | json_values.map(lambda v: json.dumps(v).encode())
    )
    def run(content: bytes) -> None:
        post(client, path, content, {"content-type": "application/json"})

    run()


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [1_500, 100_000])
def test_deeply_nested_json_is_a_400(client: httpx.Client, path: str, depth: int) -> None:
    nest = "[" * depth + "]" * depth
    for where in ("model", "extra", "messages", "prompt", "input"):
        body = {**VALID[path], where: "NEST"}
        content = json.dumps(body).replace('"NEST"', nest).encode()
        reply = client.post(path, content=content, headers={"content-type": "application/json"})
        check(reply)
        # A typed field refuses the first "[" (invalid_value); anywhere else the decoder
        # recursed until the stack ran out, and that was a 500.
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] in ("invalid_json", "invalid_value")
