"""A real browser for the admin UI: Debian's chromium driven by Playwright for Python
(never `playwright install`). Without /usr/bin/chromium the tests fail, naming the
package, where it can be installed (root, or CI); elsewhere they skip saying so.
Screenshots of every page land in tests/artifacts/screens/ (git-ignored)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from config import Settings
from tests.fakes.upstream import ScriptedUpstream
from tests.integration.admin_support import BEARER, MASTER_KEY, PASSWORD, SESSION_SECRET
from tests.integration.conftest import (  # noqa: F401 (the integration tests' fixtures)
    RunningGateway,
    gateway_factory,
    make_settings,
    session_redis,
    upstream,
    upstream_factory,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screens"
MISSING = "/usr/bin/chromium is missing: install it with `apt-get install -y chromium` (Debian 12)"


def require_chromium() -> None:
    """Fail (root, or CI) or skip (elsewhere) with how to install it: never silently."""
    if CHROMIUM.exists():
        return
    if os.geteuid() == 0 or os.environ.get("CI"):
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING + " (not root and CI is not set)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    # Module-scoped: the sync API's loop lives only while this module's tests run.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # Root (CI's containers) cannot use chromium's user-namespace sandbox.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Ui:
    gateway: RunningGateway
    upstream: ScriptedUpstream
    browser: Browser

    @property
    def url(self) -> str:
        return self.gateway.url

    def user(self, name: str, role: str = "member") -> str:
        reply = httpx.post(
            self.url + "/admin/api/users",
            json={"name": name, "password": PASSWORD, "role": role},
            headers=BEARER,
        )
        assert reply.status_code == 201, reply.text
        user_id: str = reply.json()["id"]
        return user_id

    def context(self, *, dark: bool = False) -> BrowserContext:
        return self.browser.new_context(
            base_url=self.url,
            color_scheme="dark" if dark else "light",
            viewport={"width": 1280, "height": 900},
        )

    def sign_in(self, name: str, *, dark: bool = False) -> Page:
        page = self.context(dark=dark).new_page()
        page.goto("/admin/login")
        page.get_by_label("Name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/admin/keys$"))
        return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def ui(
    gateway_factory: Callable[[Settings], RunningGateway],  # noqa: F811 (imported fixture)
    upstream: ScriptedUpstream,  # noqa: F811
    browser: Browser,
) -> Ui:
    settings = make_settings(
        [{"name": "coder", "upstreams": [upstream.url]}],
        server={"master_key": MASTER_KEY},
        accounts={
            "session_secret": SESSION_SECRET,
            "usage": {"flush_interval_s": 0.1},
        },
    )
    return Ui(gateway_factory(settings), upstream, browser)
