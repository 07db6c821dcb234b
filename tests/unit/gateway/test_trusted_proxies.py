"""`[server] trusted_proxies`: uvicorn believes X-Forwarded-* only from those peers."""

from __future__ import annotations

import pytest

from config.settings import ServerSettings
from gateway.serving import server_options


def test_forwarded_headers_are_ignored_by_default() -> None:
    # uvicorn's own default trusts 127.0.0.1; the gateway's trusts nobody.
    assert server_options(ServerSettings())["proxy_headers"] is False


def test_configured_proxies_are_the_only_ones_believed() -> None:
    options = server_options(ServerSettings(trusted_proxies=("127.0.0.1", "10.0.0.0/8")))
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["127.0.0.1", "10.0.0.0/8"]


def test_a_proxy_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        ServerSettings(trusted_proxies=("proxy.local",))
