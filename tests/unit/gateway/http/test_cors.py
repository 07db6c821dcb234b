"""The CORS settings and the headers the gateway exposes to pages."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from config import ServerSettings
from config.loader import load_settings
from gateway.http.cors import EXPOSE_HEADERS

GATEWAY = Path(__file__).parents[4] / "gateway"
UPSTREAM_ONLY = {"x-atlas-purpose"}  # sent to upstreams, never to clients


def test_every_atlas_header_sent_to_clients_is_exposed() -> None:
    sent = set()
    for source in GATEWAY.rglob("*.py"):
        sent |= set(re.findall(r'"(x-atlas-[a-z-]+)"', source.read_text()))
    exposed = {name.strip() for name in EXPOSE_HEADERS.decode().split(",")}
    assert sent - UPSTREAM_ONLY <= exposed
    assert sent - UPSTREAM_ONLY  # the scan found them


@pytest.mark.parametrize(
    "origins",
    [["*", "http://a.io"], ["http://a.io/"], ["a.io"], ["ftp://a.io"], ["http://u@a.io"], ["null"]],
)
def test_bad_origins_are_refused_at_start_up(origins: list[str]) -> None:
    with pytest.raises(msgspec.ValidationError, match="cors_allow_origins"):
        msgspec.convert({"cors_allow_origins": origins}, ServerSettings)


def test_origins_from_the_environment() -> None:
    env = {"ATLAS_CORS_ALLOW_ORIGINS": "http://localhost:3000, https://app.example.com"}
    settings = load_settings(env=env)
    assert settings.server.cors_allow_origins == (
        "http://localhost:3000",
        "https://app.example.com",
    )
    assert load_settings(env={}).server.cors_allow_origins == ()
