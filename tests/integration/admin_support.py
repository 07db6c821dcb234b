"""Helpers of the admin API tests: a gateway with a master key and a known session
secret, users made through the API itself, and one httpx client (cookie jar) per login."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from config import Settings
from tests.integration.conftest import RunningGateway, make_settings

MASTER_KEY = "mk-" + "m" * 40
SESSION_SECRET = "s" * 48
PASSWORD = "correct horse battery"
BEARER = {"authorization": f"Bearer {MASTER_KEY}"}


def admin_settings(**accounts: Any) -> Settings:
    return make_settings(
        [],
        server={"master_key": MASTER_KEY},
        accounts={"session_secret": SESSION_SECRET, **accounts},
    )


@dataclass
class Login:
    client: httpx.Client
    user: dict[str, Any]
    csrf: str

    @property
    def csrf_header(self) -> dict[str, str]:
        return {"x-csrf-token": self.csrf}


class AdminApi:
    """One gateway's admin API, driven the way a browser and a script would."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.gateway = gateway
        self.url = gateway.url + "/admin/api"
        self.master = httpx.Client(base_url=self.url, headers=BEARER, timeout=10)
        self._clients: list[httpx.Client] = [self.master]

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10)
        self._clients.append(client)
        return client

    def create_user(self, name: str, role: str = "member", password: str = PASSWORD) -> str:
        reply = self.master.post("/users", json={"name": name, "password": password, "role": role})
        assert reply.status_code == 201, reply.text
        user_id: str = reply.json()["id"]
        return user_id

    def log_in(self, name: str, password: str = PASSWORD) -> Login:
        client = self.client()
        reply = client.post("/session", json={"name": name, "password": password})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        return Login(client, body["user"], body["csrf_token"])

    def close(self) -> None:
        for client in self._clients:
            client.close()


def open_admin_api(
    gateway_factory: Callable[[Settings], RunningGateway], settings: Settings | None = None
) -> Iterator[AdminApi]:
    api = AdminApi(gateway_factory(settings or admin_settings()))
    try:
        yield api
    finally:
        api.close()


def error_of(reply: httpx.Response) -> dict[str, Any]:
    """The error of an admin API answer, checked to have the one shape."""
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and isinstance(error["code"], str)
    return error
