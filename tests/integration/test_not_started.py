"""Requests that reach the app while its services are not running (before the lifespan
started them, after it closed them) get a clear 503, never a 500."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from tests.integration.conftest import make_settings


async def test_before_the_lifespan_every_api_route_answers_503_not_ready() -> None:
    app = create_app(make_settings([{"name": "coder", "upstreams": ["http://127.0.0.1:9"]}]))
    # httpx's ASGI transport sends no lifespan events: the services are never built.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas") as client:
        assert (await client.get("/health")).status_code == 200
        for method, path in (
            ("GET", "/ready"),
            ("GET", "/metrics"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/completions"),
            ("POST", "/v1/embeddings"),
        ):
            body = {"model": "coder", "messages": [], "prompt": "x", "input": "x"}
            reply = await client.request(method, path, json=body if method == "POST" else None)
            assert reply.status_code == 503, (path, reply.text)
            assert reply.json()["error"]["code"] == "not_ready"
            assert reply.headers["retry-after"] == "1"
        # Listing models needs no running services.
        assert (await client.get("/v1/models")).json()["data"][0]["id"] == "coder"
