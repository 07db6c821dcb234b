"""Upstream entries: http(s) URLs, and DNS sources (dns+http(s)://host:port)."""

from __future__ import annotations

import msgspec
import pytest

from config import ModelSettings, Settings, UpstreamSettings
from config.settings import validate_dns_url, validate_upstream_url

pytestmark = pytest.mark.timeout(10)


def model(*upstreams: object, **fields: object) -> ModelSettings:
    return msgspec.convert({"name": "m", "upstreams": list(upstreams), **fields}, ModelSettings)


@pytest.mark.parametrize(
    "url",
    [
        "dns+http://llama.atlas.svc.cluster.local:8080",
        "dns+https://llama-headless:443/",
        "dns+http://[::1]:8080",
        "dns+http://127.0.0.2:8080",
    ],
)
def test_dns_sources_are_valid(url: str) -> None:
    assert validate_upstream_url(url) == url.rstrip("/")
    assert UpstreamSettings(url=url).discovered


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("dns+http://llama.svc", "a port is required"),
        ("dns+http://llama.svc:99999", "out of range"),
        ("dns+http://llama.svc:8080/v1", "no path"),
        ("dns+http://llama.svc:8080?x=1", "no path"),
        ("dns+http://user@llama.svc:8080", "no path, query or user"),
        ("dns+ftp://llama.svc:21", "or dns\\+http\\(s\\)://host:port"),
        ("dns+http://:8080", "expected dns\\+http://host:port"),
        ("dns://llama.svc:8080", "or dns\\+http\\(s\\)://host:port"),
    ],
)
def test_bad_dns_sources_name_what_is_wrong(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        validate_upstream_url(url)
    with pytest.raises(msgspec.ValidationError, match=error):
        model(url)


def test_plain_urls_are_not_discovered() -> None:
    assert not UpstreamSettings(url="http://10.0.0.5:8080").discovered
    with pytest.raises(ValueError, match="expected dns"):
        validate_dns_url("http://10.0.0.5:8080")


def test_a_source_keeps_its_settings_for_every_address() -> None:
    settings = model(
        "http://10.0.0.5:8080",
        "dns+http://llama.svc:8080/",
        {"url": "dns+https://big.svc:8443", "weight": 2.0, "max_in_flight": 4},
    )
    entries = settings.generation_upstreams()
    assert [(e.url, e.discovered) for e in entries] == [
        ("http://10.0.0.5:8080", False),
        ("dns+http://llama.svc:8080", True),
        ("dns+https://big.svc:8443", True),
    ]
    assert (entries[2].weight, entries[2].max_in_flight) == (2.0, 4)


def test_a_dns_source_alone_serves_a_model() -> None:
    assert model(embedding_upstreams=["dns+http://embed.svc:8090"], upstreams=[]).name == "m"


def test_discovery_interval_defaults_and_must_be_positive() -> None:
    assert Settings().upstream.discovery_interval_s == 10.0
    with pytest.raises(msgspec.ValidationError, match="discovery_interval_s must be positive"):
        msgspec.convert({"upstream": {"discovery_interval_s": 0}}, Settings)
